//! The clients: each one job, each speaking s6's on-disk protocol only, so they work against
//! s6's daemons as well as ours.

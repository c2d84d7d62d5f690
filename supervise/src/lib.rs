//! Supervision: the scanner (s6-svscan's role), the per-service supervisor (s6-supervise's
//! role), and the clients that talk to them (svc, svstat, svwait, svscanctl).
#![deny(missing_docs)]

pub mod client;

//! Formats and protocols every part of ostler shares, as bytes and files only: no processes,
//! no signals.
//!
//! - [`tain`]: TAI64N timestamps, packed (12 bytes) and as text (`@` + 24 hex digits);
//! - [`status`]: the `supervise/status` codec (s6's 35-byte layout, reading the 43-byte one too);
//! - [`death_tally`]: the `supervise/death_tally` records;
//! - [`letter`]: the control-FIFO letters of a supervisor and of a scanner;
//! - [`fifodir`]: the `event/` fifodir: create, subscribe, notify;
//! - [`settings`]: the small files of a service directory (`notification-fd`, `timeout-kill`…);
//! - [`lock`]: fcntl whole-file locks, the kind s6's tools test;
//! - [`gpt`]: GUID partition tables: write one, read one, move its backup to a disk's end;
//! - [`modules_dep`]: the kernel's `modules.dep` (module files and their dependencies);
//! - [`mountinfo`]: the mount points `/proc/self/mountinfo` lists;
//! - [`paths`]: the runtime paths of a booted system (design.md's contract);
//! - [`console`]: a line on /dev/console, whatever happens;
//! - [`atomic`]: write `NAME.new`, then rename it over `NAME`;
//! - [`timeline`]: the boot timeline the service manager writes and `ostler analyze` reads;
//! - [`signame`]: signal names as s6 prints and reads them;
//! - [`listing`]: a directory's entries without allocating;
//! - [`umask`]: the process's umask, asked once.
#![deny(missing_docs)]

pub mod atomic;
pub mod console;
pub mod death_tally;
pub mod error;
pub mod fifodir;
pub mod gpt;
pub mod letter;
pub mod listing;
pub mod lock;
pub mod mark_logger;
pub mod modules_dep;
pub mod mountinfo;
pub mod paths;
pub mod settings;
pub mod signame;
pub mod status;
pub mod tain;
pub mod timeline;
pub mod umask;

pub use error::CoreError;
pub use status::Status;
pub use tain::Tain;

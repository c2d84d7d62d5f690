//! Stage 1 and the end of the line: what ostler does as PID 1 before the scanner runs, and
//! after it has stopped.
//!
//! - [`stage1::run`]: `ostler init` — mount the kernel filesystems, build `/run/ostler` and the
//!   scan directory with the early services, open the catch-all logger's FIFO without blocking,
//!   fork stage 2, exec the scanner;
//! - [`catch_all`]: the catch-all logger of stage 1 (until the logger of issue 4 replaces it);
//! - [`root_disk`]: from an initramfs to the disk `root=` names (modules, mount, switch);
//! - [`cmdline`]: the words of the kernel command line that stage 1 understands;
//! - [`fstab`]: `ostler mount-all` and `umount-all`, the filesystems of `/etc/fstab`;
//! - [`instance`]: the scanner and service manager under another init (`ostler hosted`
//!   under systemd, `ostler user` for one user), with [`sd_notify`] for readiness.
#![deny(missing_docs)]

pub mod catch_all;
pub mod cmdline;
mod console;
pub mod container;
mod early;
pub mod fstab;
pub mod instance;
mod mounts;
pub use ostler_core::paths;
pub mod root_disk;
pub mod sd_notify;
pub mod stage1;

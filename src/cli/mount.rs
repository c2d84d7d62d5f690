//! Options of mount-all and umount-all (the filesystems of /etc/fstab).

use clap::Args;
use ostler_init::fstab::{self, Config, Outcome};
use std::path::PathBuf;

/// Mount the filesystems of /etc/fstab, in file order.
///
/// Every line that is not mounted yet and not `noauto` is mounted: sources as device paths,
/// `LABEL=`, `UUID=`, `PARTLABEL=` or `PARTUUID=` (through /dev/disk/by-* when udev made it,
/// otherwise by reading the superblocks of /proc/partitions' devices: ext2/3/4 and swap labels
/// and UUIDs, partition names and UUIDs from sysfs); type `auto` tries each block filesystem
/// of /proc/filesystems. Options: `ro`/`rw` and the flag options (nosuid, nodev, noexec,
/// noatime, relatime…) become mount flags, the rest goes to the filesystem; `bind`, `rbind`;
/// `loop` (an image file through a loop device); `nofail` (a missing device is a warning);
/// `noauto` (skipped); `_netdev` (skipped with a note: the network comes later); `x-*` and
/// `comment=` are ignored. `swap` lines are turned on (`pri=N`, `discard`). A read-only `/`
/// is remounted read-write unless fstab says `ro` (fsck is a separate step, run before).
/// Mount points are never created: a missing one is an error naming the line.
///
/// One bad line never stops the others. Exits 0 when every required line is mounted (warnings
/// allowed), 1 when any failed. See docs/fstab.md.
#[derive(Args, Debug)]
pub struct MountAllArgs {
    /// The fstab to read.
    #[arg(long, value_name = "FILE", default_value = "/etc/fstab")]
    pub fstab: PathBuf,
    /// Say what would be mounted, and why each line is left alone, without mounting anything.
    #[arg(long)]
    pub dry_run: bool,
}

/// Unmount the filesystems of /etc/fstab and turn off its swap, for the shutdown.
///
/// Swap areas of the fstab are turned off first, then its filesystems are unmounted in
/// reverse file order. A busy filesystem (a process still has a file open there) is remounted
/// read-only instead and reported. `/` and the kernel filesystems stage 1 mounts (/proc, /sys,
/// /dev, /dev/pts, /dev/shm, /run) are never touched: the final stage remounts `/` read-only
/// once every process is gone, and unmounts whatever is left. Loop devices set up by
/// mount-all detach themselves when unmounted.
///
/// Exits 0 when everything is unmounted or remounted read-only, 1 when something failed.
#[derive(Args, Debug)]
pub struct UmountAllArgs {
    /// The fstab to read.
    #[arg(long, value_name = "FILE", default_value = "/etc/fstab")]
    pub fstab: PathBuf,
}

/// Prints the outcomes as `ostler COMMAND: …` lines; the exit code: 1 when any failed.
fn report(command: &str, outcomes: Vec<Outcome>) -> u8 {
    let mut code = 0;
    for outcome in outcomes {
        match outcome {
            Outcome::Done(line) | Outcome::Note(line) => println!("ostler {command}: {line}"),
            Outcome::Warning(error) => eprintln!("ostler {command}: warning: {error}"),
            Outcome::Failed(error) => {
                eprintln!("ostler {command}: {error}");
                code = 1;
            }
        }
    }
    code
}

pub fn mount_all(args: MountAllArgs) -> u8 {
    let mode = if args.dry_run { fstab::Mode::DryRun } else { fstab::Mode::Perform };
    report("mount-all", fstab::mount_all(&Config::new(args.fstab), mode))
}

pub fn umount_all(args: UmountAllArgs) -> u8 {
    report("umount-all", fstab::umount_all(&Config::new(args.fstab)))
}

//! Booting from a disk. When the kernel command line names `root=` and stage 1 runs from an
//! initramfs, stage 1 does an initramfs's job before its own: load the modules the disk needs
//! (`/etc/ostler/modules`, in `modules.dep` order), wait for the device, mount it on
//! `/sysroot`, move the kernel filesystems there, empty the initramfs (its memory is not
//! given back otherwise), make the disk the root and exec its `/sbin/init` — ostler's stage 1
//! again, which finds its mounts already made.

use crate::cmdline::RootWords;
use crate::console::Console;
use nix::fcntl::{open, openat2, OFlag, OpenHow, ResolveFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{fstatat, Mode};
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where the disk is mounted before it becomes `/`.
const SYSROOT: &str = "/sysroot";
/// The modules to load before the disk can be found, one name per line.
pub const MODULES_LIST: &str = "/etc/ostler/modules";
/// The kernel filesystems stage 1 mounted, moved under the new root rather than mounted again.
const MOVED: &[&str] = &["/dev", "/proc", "/sys", "/run"];
/// How long to wait for the root device without `rootdelay=` (initramfs-tools waits as long).
const DEFAULT_WAIT: Duration = Duration::from_secs(30);

/// True when `/` is the kernel's rootfs (an initramfs), the only root one may switch away from.
pub fn on_initramfs() -> bool {
    use nix::sys::statfs::{statfs, FsType, TMPFS_MAGIC};
    // nix names no constant for ramfs (the rootfs of most initramfs boots).
    const RAMFS_MAGIC: FsType = FsType(0x858458f6);
    statfs("/").is_ok_and(|fs| fs.filesystem_type() == RAMFS_MAGIC || fs.filesystem_type() == TMPFS_MAGIC)
}

/// Switches to the disk `root` names and execs its init with `arguments`. Returns only the
/// reason it could not.
pub fn switch(console: &Console, root: &RootWords, arguments: &[String]) -> String {
    load_modules(console);
    let wait = root.delay_seconds.map_or(DEFAULT_WAIT, Duration::from_secs);
    let device = match wait_for_device(&root.device, wait) {
        Some(device) => device,
        None => {
            return format!(
                "root device {} did not appear within {} s; check root= on the kernel command line and that \
                 {MODULES_LIST} names the disk's driver (virtio_blk, ahci, nvme…)",
                root.device,
                wait.as_secs()
            )
        }
    };
    console.step(&format!("root device {} is {}", root.device, device.display()));
    if let Err(problem) = mount_root(&device, root) {
        return problem;
    }
    if let Err(problem) = init_exists() {
        let _ = umount2(SYSROOT, MntFlags::MNT_DETACH);
        return problem;
    }
    console.step(&format!("mounted {} on {SYSROOT}", device.display()));
    for target in MOVED {
        let inside = format!("{SYSROOT}{target}");
        if Path::new(&inside).is_dir() {
            let _ = mount(Some(*target), inside.as_str(), None::<&str>, MsFlags::MS_MOVE, None::<&str>);
        } else {
            let _ = umount2(*target, MntFlags::MNT_DETACH);
        }
    }
    empty_initramfs();
    if let Err(e) = become_root() {
        return format!("unable to make {SYSROOT} the root: {e}");
    }
    console.step("switched to the disk; exec'ing its /sbin/init");
    let program = c"/sbin/init";
    let mut argv = vec![CString::from(program)];
    argv.extend(arguments.iter().filter_map(|a| CString::new(a.as_str()).ok()));
    match nix::unistd::execv(program, &argv) {
        Err(e) => format!("unable to exec /sbin/init on the new root: {e}"),
        Ok(never) => match never {},
    }
}

/// Loads the modules of [`MODULES_LIST`] with their dependencies; a module that does not load
/// is reported and the boot goes on (the device wait then says what is missing).
fn load_modules(console: &Console) {
    let Ok(list) = std::fs::read_to_string(MODULES_LIST) else { return };
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let base = PathBuf::from("/lib/modules").join(release.trim());
    let dep = std::fs::read_to_string(base.join("modules.dep")).unwrap_or_default();
    let table = modules::Table::parse(&dep);
    let mut done = std::collections::HashSet::new();
    for name in list.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        match table.load_order(name) {
            Some(order) => {
                for relative in order.into_iter().filter(|file| done.insert(*file)) {
                    let path = base.join(relative);
                    match insert(&path) {
                        Ok(()) => console.step(&format!("loaded {}", path.display())),
                        Err(e) => console.say(&format!("warning: unable to load {}: {e}", path.display())),
                    }
                }
            }
            None => console.say(&format!(
                "warning: module {name} (named in {MODULES_LIST}) is not in {}; rebuild the image with its kernel's modules",
                base.join("modules.dep").display()
            )),
        }
    }
}

/// Inserts one module file; one already loaded (or built in) is not an error.
fn insert(path: &Path) -> nix::Result<()> {
    let file = open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())?;
    match nix::kmod::finit_module(&file, c"", nix::kmod::ModuleInitFlags::empty()) {
        Err(nix::errno::Errno::EEXIST) => Ok(()),
        other => other,
    }
}

/// Waits until the device `spec` names exists; `None` when the time is up. devtmpfs creates
/// the node when the driver finds the disk: an inotify watch on /dev wakes us for it, and a
/// LABEL=, UUID=, PARTUUID= or PARTLABEL= is looked for again at each wake (and at least every quarter second, since
/// a filesystem is readable a moment after its node appears).
fn wait_for_device(spec: &str, wait: Duration) -> Option<PathBuf> {
    use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
    let deadline = Instant::now() + wait;
    let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).ok();
    if let Some(inotify) = &inotify {
        let _ = inotify.add_watch("/dev", AddWatchFlags::IN_CREATE | AddWatchFlags::IN_ATTRIB);
    }
    loop {
        if let Some(found) = find_device(spec) {
            return Some(found);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        let slice = left.min(Duration::from_millis(250));
        match &inotify {
            Some(inotify) => {
                let mut fds = [nix::poll::PollFd::new(inotify.as_fd(), nix::poll::PollFlags::POLLIN)];
                let millis = u16::try_from(slice.as_millis()).unwrap_or(250);
                let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(millis));
                let _ = inotify.read_events();
            }
            None => std::thread::sleep(slice),
        }
    }
}

/// The device node `spec` names, if it exists now.
fn find_device(spec: &str) -> Option<PathBuf> {
    let wanted = match spec.split_once('=') {
        None => return Path::new(spec).exists().then(|| PathBuf::from(spec)),
        Some(("LABEL", label)) => superblock::Wanted::Label(label),
        Some(("UUID", uuid)) => superblock::Wanted::Uuid(uuid),
        Some(("PARTUUID", id)) => return find_partition(|p| p.guid.to_string().eq_ignore_ascii_case(id)),
        Some(("PARTLABEL", name)) => return find_partition(|p| p.name == name),
        Some(_) => return None,
    };
    let blocks = std::fs::read_dir("/sys/class/block").ok()?;
    blocks.flatten().map(|entry| Path::new("/dev").join(entry.file_name())).find(|device| {
        let mut head = vec![0u8; superblock::READ];
        std::fs::File::open(device)
            .and_then(|mut file| std::io::Read::read_exact(&mut file, &mut head))
            .is_ok_and(|()| superblock::matches(&head, &wanted))
    })
}

/// The partition whose GPT entry `wanted` accepts: each partition the kernel lists is looked
/// up in its disk's table by number (the kernel keeps the GUID and name from userspace).
fn find_partition(wanted: impl Fn(&ostler_core::gpt::Partition) -> bool) -> Option<PathBuf> {
    let blocks = std::fs::read_dir("/sys/class/block").ok()?;
    blocks.flatten().find_map(|entry| {
        let number: u32 = std::fs::read_to_string(entry.path().join("partition")).ok()?.trim().parse().ok()?;
        // /sys/class/block/vda2 links to …/block/vda/vda2: the disk is the parent directory.
        let real = std::fs::canonicalize(entry.path()).ok()?;
        let disk = Path::new("/dev").join(real.parent()?.file_name()?);
        let table = ostler_core::gpt::Table::read(&mut std::fs::File::open(&disk).ok()?).ok()?;
        let found = table.partitions.iter().any(|p| p.number == number && wanted(p));
        found.then(|| Path::new("/dev").join(entry.file_name()))
    })
}

/// Mounts the root device on [`SYSROOT`], read-only unless `rw`; without `rootfstype=`, each
/// block filesystem the kernel knows is tried in turn.
fn mount_root(device: &Path, root: &RootWords) -> Result<(), String> {
    let _ = std::fs::create_dir_all(SYSROOT);
    let flags = if root.read_write { MsFlags::empty() } else { MsFlags::MS_RDONLY };
    let types = match &root.fstype {
        Some(fstype) => vec![fstype.clone()],
        None => block_filesystems(),
    };
    let mut last = None;
    for fstype in &types {
        match mount(Some(device), SYSROOT, Some(fstype.as_str()), flags, root.flags.as_deref()) {
            Ok(()) => return Ok(()),
            Err(e) => last = Some(format!("{fstype}: {e}")),
        }
    }
    Err(format!(
        "unable to mount the root device {} ({}); give its type with rootfstype= and check that {MODULES_LIST} \
         names the filesystem's module",
        device.display(),
        last.unwrap_or_else(|| "no block filesystem in /proc/filesystems".into())
    ))
}

/// The filesystem types of `/proc/filesystems` that need a device.
fn block_filesystems() -> Vec<String> {
    let text = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    text.lines().filter(|l| !l.starts_with("nodev")).map(|l| l.trim().to_string()).filter(|t| !t.is_empty()).collect()
}

/// Checks that the new root has an init to exec, resolving its symlinks inside the new root.
fn init_exists() -> Result<(), String> {
    let sysroot = open(SYSROOT, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| format!("unable to open {SYSROOT}: {e}"))?;
    let how = OpenHow::new().flags(OFlag::O_PATH | OFlag::O_CLOEXEC).resolve(ResolveFlag::RESOLVE_IN_ROOT);
    openat2(&sysroot, "sbin/init", how)
        .map(drop)
        .map_err(|e| format!("the root filesystem has no /sbin/init ({e}); is root= the right device?"))
}

/// Removes every file of the initramfs (not crossing into other filesystems, so the disk under
/// /sysroot and the moved mounts are untouched).
fn empty_initramfs() {
    let Ok(root) = open("/", OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty()) else { return };
    let Ok(stat) = nix::sys::stat::fstat(&root) else { return };
    remove_children(root, stat.st_dev);
}

fn remove_children(dir: OwnedFd, device: u64) {
    use nix::unistd::{unlinkat, UnlinkatFlags};
    let Ok(mut listing) = nix::dir::Dir::from_fd(dir) else { return };
    let dirfd = listing.as_raw_fd();
    // SAFETY: the fd stays open as long as `listing`, which outlives every use of `parent`.
    let parent = unsafe { std::os::fd::BorrowedFd::borrow_raw(dirfd) };
    let names: Vec<CString> = listing
        .iter()
        .flatten()
        .map(|entry| entry.file_name().to_owned())
        .filter(|name| name.as_bytes() != b"." && name.as_bytes() != b"..")
        .collect();
    for name in names {
        let Ok(stat) = fstatat(parent, name.as_c_str(), nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) else { continue };
        if stat.st_dev != device {
            continue;
        }
        if stat.st_mode & libc::S_IFMT == libc::S_IFDIR {
            let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
            if let Ok(child) = nix::fcntl::openat(parent, name.as_c_str(), flags, Mode::empty()) {
                remove_children(child, device);
            }
            let _ = unlinkat(parent, name.as_c_str(), UnlinkatFlags::RemoveDir);
        } else {
            let _ = unlinkat(parent, name.as_c_str(), UnlinkatFlags::NoRemoveDir);
        }
    }
}

/// Moves the disk over `/` and enters it.
fn become_root() -> nix::Result<()> {
    nix::unistd::chdir(SYSROOT)?;
    mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)?;
    nix::unistd::chroot(".")?;
    nix::unistd::chdir("/")
}

/// `modules.dep`: which file each module is, and what it needs loaded first.
mod modules {
    use std::collections::HashMap;

    /// The parsed `modules.dep`.
    pub struct Table<'a> {
        by_name: HashMap<String, (&'a str, Vec<&'a str>)>,
    }

    use ostler_core::modules_dep::name_of;

    impl<'a> Table<'a> {
        /// Reads `path: dep dep…` lines.
        pub fn parse(text: &'a str) -> Self {
            let by_name = ostler_core::modules_dep::parse(text)
                .into_iter()
                .map(|(file, deps)| (name_of(file), (file, deps)))
                .collect();
            Table { by_name }
        }

        /// The files to load for `name`, each after everything it needs; `None` for an unknown
        /// module.
        pub fn load_order(&self, name: &str) -> Option<Vec<&'a str>> {
            let mut order = Vec::new();
            self.visit(&name.replace('-', "_"), &mut order, 0)?;
            Some(order)
        }

        fn visit(&self, name: &str, order: &mut Vec<&'a str>, depth: usize) -> Option<()> {
            let (file, deps) = self.by_name.get(name)?;
            if order.contains(file) || depth > 64 {
                return Some(());
            }
            for dep in deps {
                // A dependency missing from the table is loaded by its path all the same.
                if self.visit(&name_of(dep), order, depth + 1).is_none() && !order.contains(dep) {
                    order.push(dep);
                }
            }
            if !order.contains(file) {
                order.push(file);
            }
            Some(())
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        const DEP: &str = "kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
kernel/fs/jbd2/jbd2.ko:
kernel/fs/mbcache.ko:
kernel/lib/crc16.ko:
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko: kernel/drivers/virtio/virtio.ko
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_pci-legacy.ko.xz: kernel/drivers/virtio/virtio_ring.ko
";

        #[test]
        fn dependencies_come_first_once() {
            let table = Table::parse(DEP);
            let order = table.load_order("virtio_blk").unwrap();
            assert_eq!(
                order,
                [
                    "kernel/drivers/virtio/virtio.ko",
                    "kernel/drivers/virtio/virtio_ring.ko",
                    "kernel/drivers/block/virtio_blk.ko"
                ]
            );
            let ext4 = table.load_order("ext4").unwrap();
            assert_eq!(ext4.last(), Some(&"kernel/fs/ext4/ext4.ko"));
            assert_eq!(ext4.len(), 4);
            assert!(table.load_order("virtio-pci-legacy").is_some(), "dashes and .ko.xz are understood");
            assert!(table.load_order("nvme").is_none());
        }
    }
}

/// Just enough of an ext2/3/4 superblock to find a filesystem by `LABEL=` or `UUID=`.
mod superblock {
    /// How many bytes of a device to read: the superblock is at 1024.
    pub const READ: usize = 2048;
    const MAGIC_AT: usize = 1024 + 0x38;
    const UUID_AT: usize = 1024 + 0x68;
    const LABEL_AT: usize = 1024 + 0x78;

    /// What `root=` asks for.
    pub enum Wanted<'a> {
        Label(&'a str),
        Uuid(&'a str),
    }

    /// True when `head` (the first [`READ`] bytes of a device) is an ext filesystem with that
    /// label or UUID.
    pub fn matches(head: &[u8], wanted: &Wanted) -> bool {
        if head.len() < READ || head[MAGIC_AT..MAGIC_AT + 2] != [0x53, 0xef] {
            return false;
        }
        match wanted {
            Wanted::Label(label) => {
                let field = &head[LABEL_AT..LABEL_AT + 16];
                let end = field.iter().position(|&b| b == 0).unwrap_or(16);
                &field[..end] == label.as_bytes()
            }
            Wanted::Uuid(uuid) => format_uuid(&head[UUID_AT..UUID_AT + 16]).eq_ignore_ascii_case(uuid),
        }
    }

    fn format_uuid(bytes: &[u8]) -> String {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn label_and_uuid() {
            let mut head = vec![0u8; READ];
            head[MAGIC_AT..MAGIC_AT + 2].copy_from_slice(&[0x53, 0xef]);
            head[LABEL_AT..LABEL_AT + 6].copy_from_slice(b"ostler");
            head[UUID_AT..UUID_AT + 16].copy_from_slice(&[
                0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f, 0x60, 0x71, 0x82, 0x93, 0xa4, 0xb5, 0xc6, 0xd7, 0xe8, 0xf9,
            ]);
            assert!(matches(&head, &Wanted::Label("ostler")));
            assert!(!matches(&head, &Wanted::Label("ostle")));
            assert!(matches(&head, &Wanted::Uuid("0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9")));
            assert!(!matches(&head, &Wanted::Uuid("0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f0")));
            head[MAGIC_AT] = 0;
            assert!(!matches(&head, &Wanted::Label("ostler")), "not ext: no match");
        }
    }
}

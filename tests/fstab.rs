//! `ostler mount-all` and `umount-all` for real: as root (CI is root), inside a private mount
//! namespace (`unshare --mount --propagation private`), so the host's mount table is never
//! touched. One fstab holds an ext4 image by `loop`, the same filesystem by `LABEL=` and by
//! `UUID=` once the loop device exists, a bind mount, a tmpfs whose mount point has a space, a
//! swap file, a missing `nofail` filesystem and a missing required one. Loop devices and swap
//! are global to the machine: the guard detaches and turns off whatever the test left.
//! A sandbox without loop devices or swapon fails the test with what is missing.

mod util;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use util::*;

/// A program from PATH or the sbin directories (mke2fs and mkswap live there).
fn tool(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from));
    dirs.map(|dir| dir.join(name)).find(|candidate| candidate.is_file()).unwrap_or_else(|| {
        panic!("this test needs `{name}`, which is not installed; install it (Debian: apt-get install {package})")
    })
}

/// Turns the swap file off and detaches the loop devices of the image, whatever happened.
struct Cleanup {
    image: PathBuf,
    swap: PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Ok(path) = std::ffi::CString::new(self.swap.as_os_str().as_encoded_bytes()) {
            // SAFETY: swapoff reads a NUL-terminated path we own; failing (not on) is fine.
            unsafe { libc::swapoff(path.as_ptr()) };
        }
        for device in loop_devices_of(&self.image) {
            if let Ok(file) = std::fs::File::open(&device) {
                const LOOP_CLR_FD: libc::c_ulong = 0x4C01;
                // SAFETY: LOOP_CLR_FD takes no argument and acts on the device we opened.
                unsafe { libc::ioctl(std::os::fd::AsRawFd::as_raw_fd(&file), LOOP_CLR_FD as _, 0) };
            }
        }
    }
}

/// The loop devices whose backing file is `image`.
fn loop_devices_of(image: &Path) -> Vec<PathBuf> {
    let Ok(blocks) = std::fs::read_dir("/sys/block") else { return Vec::new() };
    blocks
        .flatten()
        .filter(|entry| {
            std::fs::read_to_string(entry.path().join("loop/backing_file"))
                .is_ok_and(|backing| Path::new(backing.trim()) == image)
        })
        .map(|entry| Path::new("/dev").join(entry.file_name()))
        .collect()
}

/// The line of a mountinfo text whose mount point is `target` (escaped as the kernel does).
fn mount_line<'a>(mountinfo: &'a str, target: &Path) -> Option<&'a str> {
    let escaped = target.to_string_lossy().replace(' ', "\\040");
    mountinfo.lines().find(|line| line.split(' ').nth(4) == Some(escaped.as_str()))
}

#[test]
fn mount_all_then_umount_all_in_a_private_mount_namespace() {
    assert!(nix::unistd::geteuid().is_root(), "this test mounts filesystems: run it as root (CI does)");
    assert!(
        Path::new("/dev/loop-control").exists(),
        "this test needs loop devices and /dev/loop-control is missing: load the loop module (modprobe loop) or \
         run where the sandbox gives /dev/loop-control"
    );
    let unshare = tool("unshare", "util-linux");
    let mke2fs = tool("mke2fs", "e2fsprogs");
    let mkswap = tool("mkswap", "util-linux (fdisk on older releases)");

    let tree = TempTree::new("fstab");
    let image = tree.join("data.img");
    let swap = tree.join("swap.file");
    let _cleanup = Cleanup { image: image.clone(), swap: swap.clone() };
    let pid = std::process::id();
    let label = format!("ostler{}", pid % 1_000_000);
    let uuid = format!("0f57a1e2-{:04x}-4d00-8000-{:012x}", pid & 0xffff, pid);
    std::fs::File::create(&image).unwrap().set_len(16 << 20).unwrap();
    let (code, _, err) =
        cmd(Command::new(&mke2fs).args(["-q", "-F", "-t", "ext4", "-L", &label, "-U", &uuid]).arg(&image));
    assert_eq!(code, 0, "mke2fs: {err}");
    // A swap file must have no holes: written, not truncated.
    std::fs::write(&swap, vec![0u8; 8 << 20]).unwrap();
    std::fs::set_permissions(&swap, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (code, _, err) = cmd(Command::new(&mkswap).arg(&swap));
    assert_eq!(code, 0, "mkswap: {err}");

    let by_loop = tree.dir("by-loop");
    let by_label = tree.dir("by-label");
    let by_uuid = tree.dir("by-uuid");
    let bound = tree.dir("bound");
    let source = tree.dir("source");
    std::fs::write(source.join("hello"), "bound\n").unwrap();
    let scratch = tree.dir("tmp fs");
    let optional = tree.dir("optional");
    let required = tree.dir("required");
    let later = tree.dir("later");
    let out = tree.dir("out");
    let absent = format!("absent-{pid}");
    let fstab = tree.file(
        "fstab",
        format!(
            "# ostler's test fstab\n\
             {image} {by_loop} ext4 loop,noatime 0 0\n\
             LABEL={label} {by_label} auto defaults 0 2\n\
             UUID={uuid} {by_uuid} ext4 nosuid,nodev,x-test.ignored 0 2\n\
             {source} {bound} none bind,ro 0 0\n\
             tmpfs {scratch_escaped} tmpfs size=1m,mode=0700 0 0\n\
             {swap} none swap sw,pri=7 0 0\n\
             LABEL={absent} {optional} ext4 nofail 0 0\n\
             LABEL={absent} {required} ext4 defaults 0 0\n\
             \n\
             tmpfs {later} tmpfs defaults\n",
            image = image.display(),
            by_loop = by_loop.display(),
            by_label = by_label.display(),
            by_uuid = by_uuid.display(),
            source = source.display(),
            bound = bound.display(),
            scratch_escaped = scratch.display().to_string().replace(' ', "\\040"),
            swap = swap.display(),
            optional = optional.display(),
            required = required.display(),
            later = later.display(),
        ),
    );
    let script = r#"
        "$1" mount-all --fstab "$2" >"$3/mount.out" 2>"$3/mount.err"; echo $? >"$3/mount.rc"
        cat /proc/self/mountinfo >"$3/mounted"; cat /proc/swaps >"$3/swaps"
        "$1" umount-all --fstab "$2" >"$3/umount.out" 2>"$3/umount.err"; echo $? >"$3/umount.rc"
        cat /proc/self/mountinfo >"$3/after"; cat /proc/swaps >"$3/swaps-after"
    "#;
    let (code, _, err) = cmd(Command::new(&unshare)
        .args(["--mount", "--propagation", "private", "sh", "-c", script, "sh"])
        .arg(ostler())
        .arg(&fstab)
        .arg(&out));
    assert_eq!(code, 0, "unshare --mount refused (a sandbox without CAP_SYS_ADMIN?): {err}");
    let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap_or_default();
    let (mount_out, mount_err) = (read("mount.out"), read("mount.err"));
    let said = format!("mount-all said:\n{mount_out}{mount_err}");
    assert!(!mount_err.contains("loop device"), "the sandbox refused a loop device: {said}");
    assert!(
        !mount_err.contains("turn on swap"),
        "the sandbox refused swapon on a file in {}: {said}",
        tree.path().display()
    );

    // The required line fails, naming file and line; the nofail one warns; the rest is mounted.
    assert_eq!(read("mount.rc").trim(), "1", "{said}");
    let fstab_name = fstab.display();
    assert!(
        mount_err.contains(&format!(
            "ostler mount-all: {fstab_name}:9: LABEL={absent}: no such filesystem; add nofail if the disk may be absent"
        )),
        "{said}"
    );
    assert!(mount_err.contains(&format!("ostler mount-all: warning: {fstab_name}:8: LABEL={absent}")), "{said}");
    let mounted = read("mounted");
    let line = |target: &Path| mount_line(&mounted, target).unwrap_or_else(|| panic!("{target:?} not mounted; {said}"));
    let loop_line = line(&by_loop);
    assert!(loop_line.contains(" - ext4 /dev/loop") && loop_line.contains("noatime"), "{loop_line}");
    let device = loop_line.split(" - ext4 ").nth(1).and_then(|rest| rest.split(' ').next()).unwrap();
    assert!(line(&by_label).contains(&format!(" - ext4 {device} ")), "LABEL= finds the loop device: {said}");
    let uuid_line = line(&by_uuid);
    assert!(uuid_line.contains(device) && uuid_line.contains("nosuid,nodev"), "{uuid_line}");
    assert!(line(&bound).split(' ').nth(5).unwrap().starts_with("ro"), "the bind mount is read-only: {said}");
    assert!(line(&scratch).contains(" - tmpfs tmpfs ") && line(&scratch).contains("mode=700"), "{said}");
    line(&later);
    assert!(mount_line(&mounted, &optional).is_none() && mount_line(&mounted, &required).is_none());
    let swaps = read("swaps");
    let swap_line =
        swaps.lines().find(|l| l.starts_with(&*swap.to_string_lossy())).unwrap_or_else(|| panic!("{swaps}"));
    assert_eq!(swap_line.split_whitespace().last(), Some("7"), "pri=7: {swap_line}");

    // umount-all leaves nothing of the fstab mounted, the swap off and no loop device.
    let umount_said = format!("umount-all said:\n{}{}", read("umount.out"), read("umount.err"));
    assert_eq!(read("umount.rc").trim(), "0", "{umount_said}");
    let after = read("after");
    for target in [&by_loop, &by_label, &by_uuid, &bound, &scratch, &later] {
        assert!(mount_line(&after, target).is_none(), "{target:?} still mounted: {umount_said}");
    }
    assert!(!read("swaps-after").contains(&*swap.to_string_lossy()), "swap still on: {umount_said}");
    assert_eq!(loop_devices_of(&image), Vec::<PathBuf>::new(), "the loop device was not detached: {umount_said}");
    // The host never saw any of it.
    let host = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!host.contains(&*tree.path().to_string_lossy()), "a mount leaked to the host: {host}");
}

#[test]
fn a_dry_run_says_what_it_would_do_and_mounts_nothing() {
    let tree = TempTree::new("fstab-dry");
    let target = tree.dir("target");
    let fstab = tree.file(
        "fstab",
        format!("tmpfs {} tmpfs size=1m\nnas:/x {} nfs _netdev\nbad line\n", target.display(), target.display()),
    );
    let (code, out, err) = cmd(Command::new(ostler()).arg("mount-all").arg("--fstab").arg(&fstab).arg("--dry-run"));
    assert_eq!(code, 1, "the bad line fails: {out}{err}");
    assert!(out.contains(&format!("would mount tmpfs on {} as tmpfs", target.display())), "{out}");
    assert!(out.contains("_netdev, skipped"), "{out}");
    assert!(err.contains(&format!("{}:3: 2 fields", fstab.display())), "{err}");
    let host = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!host.contains(&*target.to_string_lossy()));
    let (code, _, err) = cmd(Command::new(ostler()).args(["mount-all", "--fstab", "/nonexistent/fstab"]));
    assert_eq!(code, 1);
    assert!(err.contains("unable to read /nonexistent/fstab"), "{err}");
    let (code, _, _) = cmd(Command::new(ostler()).args(["umount-all", "--no-such-option"]));
    assert_eq!(code, 100);
}

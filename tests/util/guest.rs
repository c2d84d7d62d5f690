//! A guest under QEMU for the boot and shutdown tests: the image built once per test binary
//! (`ostler image build` with the static musl ostler), booted by `qemu/boot` with its serial
//! console on a unix socket, one boot at a time (TCG takes a core each).

use super::console::Console;
use super::{ostler, outcome, run, Processes, TempTree};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// From QEMU's start to `boot complete` (a TCG boot takes ≈ 5 s alone; allow for a busy host).
pub const BOOT: Duration = Duration::from_secs(180);
/// One shell command on the console (100 forks under TCG take several seconds).
pub const COMMAND: Duration = Duration::from_secs(90);
/// From `poweroff` to QEMU's exit.
pub const POWEROFF: Duration = Duration::from_secs(120);
/// The safety net passed to qemu/boot: QEMU is stopped by then whatever the test does.
pub const QEMU_LIMIT_SECONDS: &str = "900";
/// The shell prompt the tests set; typed as `'[o''k]# '`, so the echo of the command that sets
/// it never matches.
pub const PROMPT: &str = "[ok]# ";

pub fn source_tree() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The static ostler that goes into the guest.
pub fn guest_ostler() -> PathBuf {
    if let Some(path) = std::env::var_os("OSTLER_GUEST_BINARY") {
        return PathBuf::from(path);
    }
    // The target directory is the one this test's own ostler was built in (CARGO_TARGET_DIR
    // or target/): …/debug/ostler → …/x86_64-unknown-linux-musl/release/ostler.
    let debug = ostler();
    let target = debug.parent().and_then(Path::parent).expect("ostler binary has no target directory");
    let guest = target.join("x86_64-unknown-linux-musl/release/ostler");
    let Some(built) = guest.metadata().and_then(|m| m.modified()).ok() else {
        panic!(
            "{} is missing: the guest needs the static build; run `cargo build --release --target x86_64-unknown-linux-musl` first (tools/test does)",
            guest.display()
        );
    };
    if let Some(newer) = newest_source().filter(|(time, _)| *time > built) {
        panic!(
            "{} is older than {}: the static build is stale; run `cargo build --release --target x86_64-unknown-linux-musl` again",
            guest.display(),
            newer.1.display()
        );
    }
    guest
}

/// The most recently modified Rust source or manifest of the workspace (target/ excluded).
pub fn newest_source() -> Option<(std::time::SystemTime, PathBuf)> {
    let mut newest: Option<(std::time::SystemTime, PathBuf)> = None;
    let mut pending = vec![source_tree()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                if !name.starts_with('.') && name != "target" && name != "tests" && name != "bench" {
                    pending.push(path);
                }
            } else if name.ends_with(".rs") || name == "Cargo.toml" || name == "Cargo.lock" {
                let Ok(time) = meta.modified() else { continue };
                let is_newer = match &newest {
                    Some((newest_time, _)) => time > *newest_time,
                    None => true,
                };
                if is_newer {
                    newest = Some((time, path));
                }
            }
        }
    }
    newest
}

/// Where downloaded .debs are kept across test runs.
pub fn deb_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("debs")
}

/// Runs `ostler image build` into `out` with `epoch`; panics with its stderr on failure.
pub fn build_image(out: &Path, epoch: u64) {
    build_image_with(out, epoch, &[]);
}

/// [`build_image`] with more options (`--compress gzip`…).
pub fn build_image_with(out: &Path, epoch: u64, options: &[&str]) {
    let output = run(
        ostler(),
        [
            "image".as_ref(),
            "build".as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
            "--ostler".as_ref(),
            guest_ostler().as_os_str(),
            "--skel".as_ref(),
            source_tree().join("skel").as_os_str(),
            "--cache".as_ref(),
            deb_cache().as_os_str(),
            "--epoch".as_ref(),
            epoch.to_string().as_ref(),
        ]
        .into_iter()
        .chain(options.iter().map(std::ffi::OsStr::new)),
    );
    let (code, stdout, stderr) = outcome(&output);
    assert_eq!(code, 0, "ostler image build failed:\n{stdout}{stderr}");
}

/// The minimal image the boot tests share, built once per run (kept in the target dir).
pub fn shared_image() -> &'static Path {
    static IMAGE: OnceLock<PathBuf> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("boot-image");
        build_image(&out, 1_704_067_200);
        out
    })
}

/// One boot at a time: under TCG each guest takes a host core for itself.
pub fn boot_slot() -> MutexGuard<'static, ()> {
    static SLOT: Mutex<()> = Mutex::new(());
    SLOT.lock().unwrap_or_else(|e| e.into_inner())
}

/// A booted guest: QEMU (by pid, stopped by the guard), its console, its scratch directory.
pub struct Guest {
    pub console: Console,
    pub qemu: u32,
    // Dropped after the console: QEMU is stopped, then the tree removed.
    pub procs: Processes,
    pub tree: TempTree,
    _slot: MutexGuard<'static, ()>,
}

impl Guest {
    /// Boots the shared initramfs with `append` added to the kernel command line.
    pub fn boot(label: &str, append: &str) -> Guest {
        let image = shared_image();
        Guest::start(&["--initramfs".into(), image.join("initramfs.cpio.lz4")], append, TempTree::new(label))
    }

    /// Boots a copy of the shared disk image (kept in the guest's tree, as `disk.ext4`) through
    /// the image's boot initramfs.
    pub fn boot_disk(label: &str, append: &str) -> Guest {
        let image = shared_image();
        let tree = TempTree::new(label);
        let disk = tree.join("disk.ext4");
        std::fs::copy(image.join("disk.ext4"), &disk).unwrap();
        let media = ["--disk".into(), disk, "--initramfs".into(), image.join("boot.cpio.lz4")];
        Guest::start(&media, append, tree)
    }

    /// Boots the disk image `disk` itself (not a copy: cycles of boots share it) through the
    /// shared image's boot initramfs.
    pub fn boot_disk_file(label: &str, disk: &Path, append: &str) -> Guest {
        let image = shared_image();
        let media = ["--disk".into(), disk.to_path_buf(), "--initramfs".into(), image.join("boot.cpio.lz4")];
        Guest::start(&media, append, TempTree::new(label))
    }

    pub fn start(media: &[PathBuf], append: &str, tree: TempTree) -> Guest {
        Guest::start_with(media, append, tree, &[])
    }

    /// Boots with more `qemu/boot` options (`--reboot`, `--monitor unix:PATH`…).
    pub fn start_with(media: &[PathBuf], append: &str, tree: TempTree, options: &[String]) -> Guest {
        require_qemu();
        let slot = boot_slot();
        let socket = tree.join("console.sock");
        let stderr = std::fs::File::create(tree.join("qemu.stderr")).unwrap();
        let mut command = Command::new(source_tree().join("qemu/boot"));
        command
            .args(media)
            .arg("--serial")
            .arg(format!("unix:{}", socket.display()))
            .args(["--timeout", QEMU_LIMIT_SECONDS])
            .args(options)
            .stderr(stderr);
        // A whole disk image (--image) carries its own command line: no --append with it.
        if !append.is_empty() {
            command.args(["--append", append]);
        }
        let mut procs = Processes::new();
        let qemu = procs.spawn(command);
        // The accelerator probe may run first (a few seconds); QEMU then waits for us.
        let console = Console::connect(&socket, Duration::from_secs(60));
        Guest { console, qemu, procs, tree, _slot: slot }
    }

    /// Logs in as root at the serial getty and sets the test prompt.
    pub fn login(&mut self) {
        self.console.expect_anywhere("login: ", BOOT);
        self.console.send("root\n");
        // No password: root's is empty in /etc/shadow. The profile's prompt ends in "# ".
        self.console.expect("# ", COMMAND);
        self.console.send("PS1='[o''k]# '\n");
        self.console.expect(PROMPT, COMMAND);
    }

    /// Runs a short shell command and returns its output (the lines after the echoed command).
    pub fn sh(&mut self, command: &str) -> String {
        self.console.skip_seen();
        self.console.send(&format!("{command}\n"));
        let text = self.console.expect(PROMPT, COMMAND);
        let text = text.replace('\r', "");
        // The kernel's own messages reach the same console at any moment (the clocksource
        // switch a couple of seconds after boot), even before the echo of the command: they
        // are not the command's output. The output starts after the echo.
        let lines: Vec<&str> = text.lines().filter(|l| !is_kernel_message(l)).collect();
        let first = command.lines().next().unwrap_or_default();
        let echo = lines.iter().position(|l| l.contains(first)).or_else(|| lines.iter().position(|l| !l.is_empty()));
        match echo {
            Some(at) => lines[at + 1..].join("\n").trim_end().to_string(),
            None => String::new(),
        }
    }

    /// Polls `command` until its output satisfies `accept`; returns that output.
    pub fn sh_until(&mut self, what: &str, deadline: Duration, command: &str, accept: impl Fn(&str) -> bool) -> String {
        let end = std::time::Instant::now() + deadline;
        loop {
            let output = self.sh(command);
            if accept(&output) {
                return output;
            }
            assert!(
                std::time::Instant::now() < end,
                "timed out waiting for {what}; last output of `{command}`:\n{output}"
            );
        }
    }

    /// Waits for QEMU to exit; panics after `deadline`.
    pub fn wait_exit(&mut self, deadline: Duration) -> std::process::ExitStatus {
        let end = std::time::Instant::now() + deadline;
        while self.procs.running(self.qemu) {
            assert!(
                std::time::Instant::now() < end,
                "QEMU did not exit within {deadline:?}; the console's last lines:\n{}",
                self.console.tail(3000)
            );
            std::thread::sleep(super::POLL_EVERY);
        }
        self.procs.wait_exit(self.qemu, Duration::from_secs(5))
    }

    /// Boots the shared initramfs with QEMU's monitor on `monitor.sock` in the guest's tree,
    /// and, with `reboot`, a reboot that boots again instead of ending QEMU.
    pub fn boot_with_monitor(label: &str, append: &str, reboot: bool) -> Guest {
        let image = shared_image();
        let tree = TempTree::new(label);
        let mut options = vec!["--monitor".to_string(), format!("unix:{}", tree.join("monitor.sock").display())];
        if reboot {
            options.push("--reboot".into());
        }
        Guest::start_with(&["--initramfs".into(), image.join("initramfs.cpio.lz4")], append, tree, &options)
    }

    /// Sends one command to QEMU's monitor (see [`Guest::boot_with_monitor`]): waits for its
    /// prompt (what is typed before it is lost), types the command, waits for the next prompt.
    pub fn monitor(&self, command: &str) {
        use std::io::{Read, Write};
        let mut socket = std::os::unix::net::UnixStream::connect(self.tree.join("monitor.sock"))
            .unwrap_or_else(|e| panic!("unable to reach QEMU's monitor: {e}"));
        socket.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let until_prompt = |socket: &mut std::os::unix::net::UnixStream| {
            let mut seen = Vec::new();
            let mut buffer = [0u8; 512];
            while !String::from_utf8_lossy(&seen).contains("(qemu) ") {
                let n = socket.read(&mut buffer).unwrap_or_else(|e| panic!("QEMU's monitor went quiet: {e}"));
                assert!(n > 0, "QEMU's monitor closed");
                seen.extend_from_slice(&buffer[..n]);
            }
        };
        until_prompt(&mut socket);
        socket.write_all(format!("{command}\n").as_bytes()).unwrap();
        until_prompt(&mut socket);
    }

    /// True while QEMU runs.
    pub fn running(&mut self) -> bool {
        self.procs.running(self.qemu)
    }

    pub fn qemu_stderr(&self) -> String {
        std::fs::read_to_string(self.tree.join("qemu.stderr")).unwrap_or_default()
    }
}

pub fn require_qemu() {
    let kernel = std::fs::read_dir("/boot")
        .map(|dir| dir.filter_map(Result::ok).any(|e| e.file_name().to_string_lossy().starts_with("vmlinuz-")))
        .unwrap_or(false);
    let qemu = Command::new("qemu-system-x86_64").arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(
        kernel && qemu,
        "the boot tests need qemu-system-x86_64 and a kernel in /boot; run qemu/setup as root (apt-get install qemu-system-x86 linux-image-amd64)"
    );
}

/// The longruns of the skeleton's `default` bundle.
pub fn default_longruns() -> Vec<String> {
    let sv = source_tree().join("skel/etc/ostler/sv");
    let mut names: Vec<String> = std::fs::read_dir(sv.join("default/contents.d"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| std::fs::read_to_string(sv.join(name).join("type")).unwrap_or_default().trim() == "longrun")
        .collect();
    names.sort();
    names
}

/// The pid in `ostler svstat` output such as `up (pid 123) 4 seconds`.
pub fn svstat_pid(line: &str) -> Option<u32> {
    let rest = line.split("(pid ").nth(1)?;
    rest.split(')').next()?.trim().parse().ok()
}

/// A line the kernel printed on the console: `[    1.909695] tsc: …`.
fn is_kernel_message(line: &str) -> bool {
    let Some(rest) = line.trim_start().strip_prefix('[') else { return false };
    let Some((stamp, _)) = rest.split_once(']') else { return false };
    let stamp = stamp.trim();
    !stamp.is_empty() && stamp.bytes().all(|b| b.is_ascii_digit() || b == b'.') && stamp.contains('.')
}

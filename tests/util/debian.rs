//! Debian bookworm minbase roots for the tests, each a [`Recipe`]: with execline, s6 and bash
//! for the s6-overlay drop-in's tests (tests/s6_overlay.rs: what an image built `FROM
//! debian:bookworm` for s6-overlay has, less s6-overlay itself), and with systemd as init for
//! ostler's unit (tests/under_systemd.rs).
//!
//! Built with mmdebstrap from the mirror host apt uses (the first `URIs:` line of
//! /etc/apt/sources.list.d/debian.sources, the security archive from the second), as the facts
//! sheet on Debian roots does (shared docs/facts/debian-root.md §1), with SOURCE_DATE_EPOCH
//! fixed. Built once and kept as a tarball in `$XDG_CACHE_HOME/ostler` (`~/.cache/ostler`),
//! named after a hash of the recipe, so a change of suite, packages or options builds anew.
//! The tarball is written under a temporary name and renamed, under a lock: a killed run
//! leaves no half file under the real name, and two test binaries never build it twice.

use nix::fcntl::{Flock, FlockArg};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The suite.
pub const SUITE: &str = "bookworm";
/// What the root has besides minbase (bash is Essential, named for clarity).
pub const PACKAGES: &[&str] = &["execline", "s6", "bash"];

/// A root: its name in the tarball's, what it has besides minbase, its host name.
pub struct Recipe {
    pub label: &'static str,
    pub packages: &'static [&'static str],
    pub hostname: &'static str,
}

/// The s6-overlay tests' root.
pub const S6_OVERLAY: Recipe = Recipe { label: "minbase", packages: PACKAGES, hostname: "ostler-test" };
/// A root booted with systemd as PID 1: systemd-sysv makes /sbin/init systemd's; udev makes
/// the device units (the serial getty waits for `dev-ttyS0.device`); procps for the checks.
pub const SYSTEMD: Recipe =
    Recipe { label: "systemd-test", packages: &["systemd-sysv", "udev", "procps"], hostname: "ostler-systemd" };

/// SOURCE_DATE_EPOCH (2025-01-01): the same mirror content gives the same tarball.
const EPOCH: &str = "1735689600";
/// The longest a build may take (≈ 25 s on these hosts, downloads included).
const BUILD: Duration = Duration::from_secs(900);
/// Where apt's sources are (deb822).
const SOURCES: &str = "/etc/apt/sources.list.d/debian.sources";

/// mmdebstrap's options, the suite and the sources excepted: minbase, the packages, no
/// manuals, documentation or translations (a smaller tarball), merged /usr as Debian's own
/// images have it, and fixed /etc/hostname and /etc/resolv.conf (mmdebstrap copies the host's).
fn options(recipe: &Recipe) -> Vec<String> {
    let mut options: Vec<String> = [
        "--mode=root",
        "--variant=minbase",
        "--format=tar",
        "--dpkgopt=path-exclude=/usr/share/man/*",
        "--dpkgopt=path-exclude=/usr/share/locale/*",
        "--dpkgopt=path-include=/usr/share/locale/locale.alias",
        "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-include=/usr/share/doc/*/copyright",
        "--dpkgopt=path-exclude=/usr/share/info/*",
        "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
        "--customize-hook=echo HOSTNAME > \"$1/etc/hostname\"",
        "--customize-hook=: > \"$1/etc/resolv.conf\"",
        // The sources name the mirror; the tests never run apt inside.
        "--customize-hook=rm -f \"$1/etc/apt/sources.list\"",
    ]
    .iter()
    .map(|option| option.replace("HOSTNAME", recipe.hostname))
    .collect();
    options.push(format!("--include={}", recipe.packages.join(",")));
    options
}

/// The tarball's file name: the suite, the variant and a hash of the whole recipe.
fn tarball_name(recipe: &Recipe) -> String {
    // FNV-1a, 64 bits: stable across Rust versions, unlike DefaultHasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for word in std::iter::once(SUITE.to_string()).chain([EPOCH.to_string()]).chain(options(recipe)) {
        for byte in word.bytes().chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("debian-{SUITE}-{}-{hash:016x}.tar", recipe.label)
}

/// `$XDG_CACHE_HOME/ostler`, else `$HOME/.cache/ostler`.
pub fn cache_dir() -> PathBuf {
    let absolute = |name: &str| std::env::var_os(name).map(PathBuf::from).filter(|p| p.is_absolute());
    if let Some(cache) = absolute("XDG_CACHE_HOME") {
        return cache.join("ostler");
    }
    match absolute("HOME") {
        Some(home) => home.join(".cache/ostler"),
        None => {
            panic!("neither XDG_CACHE_HOME nor HOME is set: the tests' Debian roots are cached there")
        }
    }
}

/// The s6-overlay tests' root's tarball: from the cache, or built there first (tens of
/// seconds, once).
pub fn root_tarball() -> &'static Path {
    static TARBALL: OnceLock<PathBuf> = OnceLock::new();
    TARBALL.get_or_init(|| tarball(&S6_OVERLAY))
}

/// The tarball of `recipe`'s root: from the cache, or built there first (tens of seconds, once).
pub fn tarball(recipe: &Recipe) -> PathBuf {
    let dir = cache_dir();
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("unable to create {}: {e}", dir.display()));
    let name = tarball_name(recipe);
    let tarball = dir.join(&name);
    let lock_path = dir.join(format!("{name}.lock"));
    let lock_file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap_or_else(|e| panic!("unable to open {}: {e}", lock_path.display()));
    // Another test binary building the same tarball: wait for it, then use its work.
    let _lock = Flock::lock(lock_file, FlockArg::LockExclusive)
        .unwrap_or_else(|(_, e)| panic!("unable to lock {}: {e}", lock_path.display()));
    if !tarball.is_file() {
        remove_stale_partials(&dir);
        build(recipe, &dir, &name);
    }
    tarball
}

/// `.NAME.PID.partial` files whose builder (PID) is gone: what a killed build left.
fn remove_stale_partials(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        let Some(stem) = file_name.strip_suffix(".partial").filter(|_| file_name.starts_with('.')) else { continue };
        let Some((_, pid)) = stem.rsplit_once('.') else { continue };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The main archive's and the security archive's URIs (the first two `URIs:` lines).
fn mirrors() -> (String, Option<String>) {
    let text = std::fs::read_to_string(SOURCES).unwrap_or_else(|e| {
        panic!("unable to read {SOURCES} ({e}): the tests' Debian roots are built from the mirror apt uses there")
    });
    let mut uris =
        text.lines().filter_map(|l| l.trim().strip_prefix("URIs:")).filter_map(|l| l.split_whitespace().next());
    let main = uris
        .next()
        .unwrap_or_else(|| panic!("{SOURCES} has no `URIs:` line: the Debian root is built from the mirror apt uses"));
    (main.to_string(), uris.next().map(str::to_string))
}

/// An installed program's path; panics naming tools/setup when it is missing.
fn require_program(program: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the tests build Debian roots with `{program}`, which is not installed; run \
                 tools/setup as root (it installs {program} with apt-get)"
            )
        })
}

/// Runs mmdebstrap into `.NAME.PID.partial` in `dir`, then renames it to NAME.
fn build(recipe: &Recipe, dir: &Path, name: &str) {
    let mmdebstrap = require_program("mmdebstrap");
    assert!(
        nix::unistd::geteuid().is_root(),
        "building the Debian root needs root (mmdebstrap --mode=root); run the tests as root, as CI does"
    );
    let (mirror, security) = mirrors();
    let mut sources = vec![format!("deb {mirror} {SUITE} main"), format!("deb {mirror} {SUITE}-updates main")];
    if let Some(security) = &security {
        sources.push(format!("deb {security} {SUITE}-security main"));
    }
    let partial = dir.join(format!(".{name}.{}.partial", std::process::id()));
    let log_path = dir.join(format!(".{name}.{}.log", std::process::id()));
    let log =
        std::fs::File::create(&log_path).unwrap_or_else(|e| panic!("unable to create {}: {e}", log_path.display()));
    eprintln!("building the Debian root {} with mmdebstrap (once; ≈ 25 s)", dir.join(name).display());
    let start = Instant::now();
    let mut child = Command::new(&mmdebstrap)
        .args(options(recipe))
        .arg(SUITE)
        .arg(&partial)
        .args(&sources)
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("unable to run {}: {e}", mmdebstrap.display()));
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() >= BUILD {
            // By pid: our child.
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = std::fs::read_to_string(&log_path).unwrap_or_default();
    let _ = std::fs::remove_file(&log_path);
    if status.is_some_and(|s| s.success()) && partial.is_file() {
        std::fs::rename(&partial, dir.join(name))
            .unwrap_or_else(|e| panic!("unable to rename {} to {name}: {e}", partial.display()));
        eprintln!("built the Debian root in {:?}", start.elapsed());
        return;
    }
    let _ = std::fs::remove_file(&partial);
    // The mirror's host stays out of the messages, as in the facts sheets.
    let mut tail: Vec<&str> = output.lines().rev().take(40).collect();
    tail.reverse();
    let mut tail = tail.join("\n").replace(&mirror, "MIRROR");
    if let Some(security) = &security {
        tail = tail.replace(security, "SECURITY-MIRROR");
    }
    match status {
        None => panic!("mmdebstrap did not finish within {BUILD:?}; its last lines:\n{tail}"),
        Some(status) => panic!(
            "mmdebstrap failed ({status}); check the mirror in {SOURCES} and `apt-get update`; its last lines:\n{tail}"
        ),
    }
}

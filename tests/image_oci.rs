//! `ostler image build --format oci` (issue 11): the minimal profile as an OCI image layout and
//! oci-archive — byte-reproducible, its documents consistent with its blobs, and run by podman
//! with ostler as the container's init.
//!
//! The image holds the static musl build of ostler: `cargo build --release --target
//! x86_64-unknown-linux-musl` must have run first (tools/test does). The podman test uses the
//! container tests' containers.conf (runc, ulimits; see tests/util/container.rs) and removes
//! every container and image it made.

mod util;

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use util::container::{containers_conf, require_engines, unique_name};
use util::guest::{build_image_with, deb_cache, guest_ostler, source_tree};
use util::{cmd, ostler, TempTree, POLL_EVERY};

/// The epoch of these tests' images, and its RFC 3339 form (the config's `created`).
const EPOCH: u64 = 1_700_000_000;
const CREATED: &str = "2023-11-14T22:13:20Z";

/// The name podman gives the image it loads from the archive (its `ref.name` annotation).
const IMAGE_NAME: &str = "localhost/ostler:minimal";

/// One podman command (a run, a stop, an image load…) on a busy host.
const PODMAN_COMMAND: Duration = Duration::from_secs(60);
/// How long the services of a started container may take to be up.
const SERVICES_UP: Duration = Duration::from_secs(20);

/// Builds the OCI image into `out`.
fn build_oci(out: &Path, epoch: u64) {
    build_image_with(out, epoch, &["--format", "oci"]);
}

/// Every file under `dir`, by relative path, with its bytes.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap_or_else(|e| panic!("{}: {e}", current.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.insert(path.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&path).unwrap());
            }
        }
    }
    found
}

/// Runs a shell pipeline and returns its stdout; panics with its stderr on failure.
fn sh(script: &str) -> String {
    let (code, out, err) = cmd(Command::new("sh").args(["-c", script]));
    assert_eq!(code, 0, "`{script}` failed: {err}");
    out
}

/// The SHA-256 of a file in hex, by coreutils' sha256sum (independent of ostler's own).
fn sha256sum(path: &Path) -> String {
    let out = sh(&format!("sha256sum '{}'", path.display()));
    out.split_whitespace().next().unwrap().to_string()
}

fn json(path: &Path) -> Value {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The blob a descriptor points at, checked: its media type, its size and its sha256.
fn blob(layout: &Path, descriptor: &Value, media_type: &str) -> PathBuf {
    assert_eq!(descriptor["mediaType"], media_type, "{descriptor}");
    let digest = descriptor["digest"].as_str().unwrap();
    let hex = digest.strip_prefix("sha256:").unwrap_or_else(|| panic!("{digest} is not a sha256 digest"));
    let path = layout.join("blobs/sha256").join(hex);
    assert!(path.is_file(), "{digest}: no blob {}", path.display());
    assert_eq!(descriptor["size"].as_u64(), Some(path.metadata().unwrap().len()), "size of {digest}");
    assert_eq!(sha256sum(&path), hex, "the blob named {digest} has another sha256");
    path
}

#[test]
fn oci_image_build_is_byte_reproducible() {
    let tree = TempTree::new("oci-repro");
    let (first, second, later) = (tree.join("first"), tree.join("second"), tree.join("later"));
    build_oci(&first, EPOCH);
    build_oci(&second, EPOCH);
    build_oci(&later, EPOCH + 1);
    let archive = |out: &Path| std::fs::read(out.join("image.oci.tar")).unwrap();
    assert!(archive(&first) == archive(&second), "image.oci.tar differs between two builds of the same inputs");
    assert!(archive(&first) != archive(&later), "image.oci.tar does not change with the epoch");
    let layout = files(&first.join("oci"));
    assert_eq!(layout.len(), 5, "oci-layout, index.json and three blobs: {:?}", layout.keys());
    assert!(layout == files(&second.join("oci")), "the layout's files differ between two builds of the same inputs");
    // The machine's images are not made, and none is left from an earlier build.
    for name in ["initramfs.cpio.lz4", "disk.ext4", "boot.cpio.lz4"] {
        assert!(!first.join(name).exists(), "--format oci made {name}");
    }
}

#[test]
fn oci_archive_documents_parse_and_point_at_their_blobs() {
    let tree = TempTree::new("oci-documents");
    let out = tree.join("out");
    build_oci(&out, EPOCH);
    // The archive, unpacked by tar(1), is the layout: the same files, the same bytes.
    let unpacked = tree.dir("unpacked");
    sh(&format!("tar -xf '{}' -C '{}'", out.join("image.oci.tar").display(), unpacked.display()));
    assert!(files(&unpacked) == files(&out.join("oci")), "image.oci.tar does not hold the layout's files");
    let listing = sh(&format!("tar --utc -tvf '{}'", out.join("image.oci.tar").display()));
    assert!(listing.lines().all(|l| l.contains(" 0/0 ") && l.contains(" 2023-11-14 ")), "{listing}");

    assert_eq!(json(&unpacked.join("oci-layout")), serde_json::json!({"imageLayoutVersion": "1.0.0"}));
    let index = json(&unpacked.join("index.json"));
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(index["mediaType"], "application/vnd.oci.image.index.v1+json");
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 1, "{index}");
    assert_eq!(manifests[0]["platform"], serde_json::json!({"architecture": "amd64", "os": "linux"}));
    assert_eq!(manifests[0]["annotations"]["org.opencontainers.image.ref.name"], IMAGE_NAME);

    let manifest = json(&blob(&unpacked, &manifests[0], "application/vnd.oci.image.manifest.v1+json"));
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(manifest["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    let config_path = blob(&unpacked, &manifest["config"], "application/vnd.oci.image.config.v1+json");
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{manifest}");
    let layer = blob(&unpacked, &layers[0], "application/vnd.oci.image.layer.v1.tar+gzip");

    let config = json(&config_path);
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(config["os"], "linux");
    assert_eq!(config["created"], CREATED);
    assert_eq!(config["config"]["Entrypoint"], serde_json::json!(["/bin/ostler", "init", "--container", "--"]));
    assert!(config["config"].get("Cmd").is_none(), "the image has a CMD: {config}");
    assert_eq!(config["config"]["Env"], serde_json::json!(["PATH=/bin:/sbin:/usr/bin:/usr/sbin"]));
    assert_eq!(config["rootfs"]["type"], "layers");
    // The diff_id is the digest of the layer uncompressed.
    let plain = sh(&format!("gzip -dc '{}' | sha256sum", layer.display()));
    let diff_id = format!("sha256:{}", plain.split_whitespace().next().unwrap());
    assert_eq!(config["rootfs"]["diff_ids"], serde_json::json!([diff_id]));

    // The layer is the minimal tree, as root owns it at the epoch, less the machine-only
    // services: `default` keeps syslogd alone.
    let contents = sh(&format!("tar --utc -tvzf '{}'", layer.display()));
    let line = |name: &str| contents.lines().find(|l| l.ends_with(&format!(" {name}"))).map(str::to_string);
    let ostler_line = line("bin/ostler").unwrap_or_else(|| panic!("no bin/ostler in the layer:\n{contents}"));
    assert!(ostler_line.starts_with("-rwxr-xr-x 0/0"), "{ostler_line}");
    assert!(line("sbin/init -> /bin/ostler").is_some(), "{contents}");
    assert!(line("tmp/").is_some_and(|l| l.starts_with("drwxrwxrwt")), "{contents}");
    assert!(contents.lines().all(|l| l.contains(" 0/0 ") && l.contains(" 2023-11-14 ")), "{contents}");
    let bundle: Vec<&str> =
        contents.lines().filter_map(|l| l.split(" etc/ostler/sv/default/contents.d/").nth(1)).collect();
    assert_eq!(bundle, ["", "syslogd"], "the directory, then its members:\n{contents}");
    let definitions: Vec<&str> = contents.lines().filter(|l| l.contains(" etc/ostler/sv/")).collect();
    for service in ["getty-ttyS0", "getty-tty1", "klogd", "hostname", "loopback"] {
        assert!(
            definitions.iter().all(|l| !l.contains(&format!("/{service}"))),
            "{service} is in the container image:\n{}",
            definitions.join("\n")
        );
    }
    // The machine's tree still has them (skel/ is unchanged).
    assert!(source_tree().join("skel/etc/ostler/sv/default/contents.d/getty-ttyS0").exists());
}

#[test]
fn options_for_the_disk_are_refused_with_format_oci() {
    let tree = TempTree::new("oci-options");
    let out = tree.join("out");
    for extra in [&["--disk-size", "64"][..], &["--module", "ext4"], &["--kernel-modules", "/nonexistent"]] {
        let (code, _, err) = cmd(Command::new(ostler())
            .args(["image", "build", "--format", "oci", "--out"])
            .arg(&out)
            .arg("--ostler")
            .arg(guest_ostler())
            .arg("--cache")
            .arg(deb_cache())
            .args(extra));
        assert_eq!(code, 100, "{extra:?}: {err}");
        assert!(err.starts_with("ostler image build: ") && err.contains("--format dir"), "{err}");
        assert!(!out.exists(), "{extra:?}: the refused build wrote {}", out.display());
    }
}

/// What a podman command did.
struct Podman {
    code: i32,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl std::fmt::Display for Podman {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {} after {:?}\n--- stdout\n{}--- stderr\n{}", self.code, self.elapsed, self.stdout, self.stderr)
    }
}

/// Runs podman with the container tests' containers.conf, to the end or [`PODMAN_COMMAND`]
/// (then it is killed by pid and the test fails).
fn podman(args: &[&str]) -> Podman {
    let tree = TempTree::new("podman");
    let (out, err) = (tree.join("stdout"), tree.join("stderr"));
    let start = Instant::now();
    let mut child = Command::new("podman")
        .env("CONTAINERS_CONF", containers_conf())
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("unable to run podman: {e}"));
    let read = |path: &Path| String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            use std::os::unix::process::ExitStatusExt;
            let code = status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
            return Podman { code, stdout: read(&out), stderr: read(&err), elapsed: start.elapsed() };
        }
        if start.elapsed() > PODMAN_COMMAND {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`podman {}` did not finish within {PODMAN_COMMAND:?}\n{}{}",
                args.join(" "),
                read(&out),
                read(&err)
            );
        }
        std::thread::sleep(POLL_EVERY);
    }
}

/// Removes, on drop, the containers named here and the image the archive loads.
struct Cleanup {
    containers: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for name in &self.containers {
            let _ = podman(&["rm", "-f", "-t", "0", name]);
        }
        let _ = podman(&["rmi", "-f", IMAGE_NAME]);
    }
}

#[test]
fn podman_runs_the_oci_archive_with_ostler_as_init() {
    require_engines();
    let tree = TempTree::new("oci-podman");
    let out = tree.join("out");
    build_oci(&out, EPOCH);
    let image = format!("oci-archive:{}", out.join("image.oci.tar").display());
    let (once, services) = (unique_name(), unique_name());
    let _cleanup = Cleanup { containers: vec![once.clone(), services.clone()] };

    // With a command: the services come up, then CMD, whose status is the container's.
    let run = podman(&["run", "--rm", "--name", &once, "--network=none", &image, "/bin/sh", "-c", "exit 3"]);
    assert_eq!(run.code, 3, "{run}");
    assert!(
        format!("{}{}", run.stdout, run.stderr).contains("syslogd: up"),
        "the default bundle did not come up first:\n{run}"
    );
    let loaded = podman(&["image", "exists", IMAGE_NAME]);
    assert_eq!(loaded.code, 0, "podman did not name the image {IMAGE_NAME}: {loaded}");

    // Without one: the services run until the container is stopped, which is orderly and fast.
    let started = podman(&["run", "-d", "--name", &services, "--network=none", &image]);
    assert_eq!(started.code, 0, "{started}");
    let end = Instant::now() + SERVICES_UP;
    loop {
        let ready = podman(&["exec", &services, "/bin/ostler", "ready"]);
        if ready.code == 0 {
            break;
        }
        assert!(Instant::now() < end, "the services did not come up within {SERVICES_UP:?}: {ready}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let stop = podman(&["stop", "-t", "10", &services]);
    assert_eq!(stop.code, 0, "{stop}");
    eprintln!("podman stop: {:?}", stop.elapsed);
    assert!(stop.elapsed < Duration::from_secs(5), "podman stop took {:?}: not an orderly stop", stop.elapsed);
    let status = podman(&["inspect", "--format", "{{.State.ExitCode}}", &services]);
    assert_eq!(status.stdout.trim(), "0", "the container's exit status: {status}");
    let logs = podman(&["logs", &services]);
    assert!(format!("{}{}", logs.stdout, logs.stderr).contains("boot complete"), "{logs}");
}

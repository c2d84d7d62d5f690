//! `--format oci`: the root tree as an OCI image (opencontainers image-spec v1.0) with ostler as
//! the container's init. Two outputs of the same image, both byte-reproducible:
//!
//! - `oci/`: an image layout — `oci-layout`, `index.json` and `blobs/sha256/` holding one
//!   layer (the tree as a tar, [`tar`], written here and compressed by `gzip -n -9`), the image
//!   config and the manifest;
//! - `image.oci.tar`: that layout as a tar, what `podman run oci-archive:PATH` and `skopeo`
//!   read.
//!
//! The JSON documents are written here with their keys in a fixed order and no spaces, so the
//! same tree gives the same digests.
//!
//! [`tar`]: crate::tar

use crate::cpio::{self, Entry, Kind};
use crate::{host, tar, ImageError};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The image layout directory, in the output directory.
pub const LAYOUT: &str = "oci";
/// The oci-archive (the layout as a tar), in the output directory.
pub const ARCHIVE: &str = "image.oci.tar";

/// The container's command before CMD: ostler (where [`minimal::OSTLER`] puts it) as the
/// container's init, CMD after `--`. The image has no CMD, so `podman run IMAGE` runs the
/// services until stopped and `podman run IMAGE cmd args` runs `cmd args` once they are up.
///
/// [`minimal::OSTLER`]: crate::minimal::OSTLER
pub const ENTRYPOINT: [&str; 4] = ["/bin/ostler", "init", "--container", "--"];

/// The environment of the init and so of every service and CMD: the PATH of `/etc/profile`.
pub const ENV: &[&str] = &["PATH=/bin:/sbin:/usr/bin:/usr/sbin"];

/// The services of the minimal profile (`skel/etc/ostler/sv`) that only a machine can run:
/// a container has no serial line or virtual console for a getty (`getty-ttyS0`,
/// `getty-tty1`), no kernel log of its own (`klogd`: the kernel's is the host's, and reading
/// it needs CAP_SYSLOG, which engines drop), a hostname the engine sets (`hostname`:
/// sethostname needs CAP_SYS_ADMIN, dropped too) and a loopback the engine has brought up
/// already (`loopback`). Left in, the gettys and klogd would fail and be restarted forever, and
/// `hostname` would fail the `default` bundle that CMD waits for. The machine image keeps them
/// (skel/ is the machine's); the OCI image drops their definitions and their place in
/// `default`, which keeps `syslogd`.
pub const MACHINE_ONLY: &[&str] = &["getty-tty1", "getty-ttyS0", "hostname", "klogd", "loopback"];

/// Where the minimal profile's service definitions are, inside the root.
const DEFINITIONS: &str = "etc/ostler/sv";

/// The media types of image-spec v1.0.
const INDEX_TYPE: &str = "application/vnd.oci.image.index.v1+json";
const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";
const LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// The image's name in `index.json` (annotation `org.opencontainers.image.ref.name`): podman
/// (4.3) names the image it loads from the archive after it; without one it keeps the image
/// unnamed (`<none>`), reachable only by its ID.
pub const REF_NAME: &str = "localhost/ostler:minimal";

/// The layout version `oci-layout` declares.
const LAYOUT_FILE: &str = "{\"imageLayoutVersion\":\"1.0.0\"}";

/// The platform of the image: ostler and busybox-static are static x86-64 binaries.
const ARCHITECTURE: &str = "amd64";
const OS: &str = "linux";

/// What [`make`] made.
#[derive(Clone, Debug)]
pub struct Made {
    /// The image layout directory.
    pub layout: PathBuf,
    /// The oci-archive.
    pub archive: PathBuf,
    /// The manifest's digest, `sha256:…`: the image's identity in a registry.
    pub manifest: String,
    /// The compressed layer's size in bytes.
    pub layer_size: u64,
}

/// Removes the [`MACHINE_ONLY`] services from the tree under `root`: their definitions and
/// their members in the `default` bundle.
pub fn keep_container_services(root: &Path) -> Result<(), ImageError> {
    let definitions = root.join(DEFINITIONS);
    for name in MACHINE_ONLY {
        crate::tree::remove_if_present(&definitions.join(name))?;
        crate::tree::remove_if_present(&definitions.join("default/contents.d").join(name))?;
    }
    Ok(())
}

/// Refuses an epoch the tar headers cannot hold (past the year 2242).
pub fn check_epoch(epoch: u64) -> Result<(), ImageError> {
    if epoch > tar::MAX_MTIME {
        return Err(ImageError::EpochTooLarge { epoch, format: "a tar header", max: tar::MAX_MTIME });
    }
    Ok(())
}

/// Makes the image of `entries` (the root tree, sorted) at time `epoch`: the layout `layout`
/// and the archive `archive`; `work` is scratch space.
pub fn make(entries: &[Entry], epoch: u64, work: &Path, layout: &Path, archive: &Path) -> Result<Made, ImageError> {
    check_epoch(epoch)?;
    // The layer: the tree as a tar (its digest is the config's diff_id), compressed.
    let plain = work.join("layer.tar");
    let mut layer_tar = Vec::new();
    tar::write(entries, epoch, &mut layer_tar).map_err(ImageError::io("write", &plain))?;
    let diff_id = sha256(&layer_tar);
    std::fs::write(&plain, &layer_tar).map_err(ImageError::io("write", &plain))?;
    drop(layer_tar);
    let compressed = work.join("layer.tar.gz");
    let file = std::fs::File::create(&compressed).map_err(ImageError::io("create", &compressed))?;
    // `-n`: no name or time in the gzip header, so the same tar gives the same bytes (with the
    // same gzip; the initramfs is compressed the same way).
    host::run(host::GZIP.command()?.args(["-n", "-9", "-c"]).arg(&plain).stdout(file), "")?;
    let layer = Blob::new(LAYER_TYPE, std::fs::read(&compressed).map_err(ImageError::io("read", &compressed))?);

    let config = Blob::new(CONFIG_TYPE, config(epoch, &diff_id).into_bytes());
    let manifest = Blob::new(MANIFEST_TYPE, manifest(&config, &layer).into_bytes());
    let index = index(&manifest);

    // The layout: staged in `work`, then moved into place whole.
    let staged = work.join(LAYOUT);
    let blobs = staged.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).map_err(ImageError::io("create directory", &blobs))?;
    let mut files =
        vec![("oci-layout".to_string(), LAYOUT_FILE.as_bytes()), ("index.json".to_string(), index.as_bytes())];
    for blob in [&layer, &config, &manifest] {
        files.push((format!("blobs/sha256/{}", blob.hex), blob.bytes.as_slice()));
    }
    for (name, bytes) in &files {
        let path = staged.join(name);
        std::fs::write(&path, bytes).map_err(ImageError::io("write", &path))?;
    }
    std::fs::rename(&staged, layout).map_err(ImageError::io("move into place", layout))?;

    // The archive: the same files, in a tar of its own, entries sorted, owner 0:0, time `epoch`.
    let mut archived = vec![directory("blobs"), directory("blobs/sha256")];
    for (name, bytes) in files {
        archived.push(Entry { path: name.into(), permissions: 0o644, kind: Kind::File(bytes.to_vec()) });
    }
    cpio::sort(&mut archived);
    let mut bytes = Vec::new();
    tar::write(&archived, epoch, &mut bytes).map_err(ImageError::io("write", archive))?;
    let staged_archive = work.join(ARCHIVE);
    std::fs::write(&staged_archive, &bytes).map_err(ImageError::io("write", &staged_archive))?;
    std::fs::rename(&staged_archive, archive).map_err(ImageError::io("move into place", archive))?;

    Ok(Made {
        layout: layout.to_path_buf(),
        archive: archive.to_path_buf(),
        manifest: manifest.digest(),
        layer_size: layer.bytes.len() as u64,
    })
}

fn directory(path: &str) -> Entry {
    Entry { path: path.into(), permissions: 0o755, kind: Kind::Directory }
}

/// A blob of the layout, named by its digest.
struct Blob {
    media_type: &'static str,
    bytes: Vec<u8>,
    /// The SHA-256 of `bytes`, in lowercase hex.
    hex: String,
}

impl Blob {
    fn new(media_type: &'static str, bytes: Vec<u8>) -> Blob {
        Blob { media_type, hex: sha256(&bytes), bytes }
    }

    fn digest(&self) -> String {
        format!("sha256:{}", self.hex)
    }

    /// The fields of a descriptor pointing at this blob.
    fn descriptor(&self) -> Vec<(&'static str, String)> {
        vec![
            ("mediaType", string(self.media_type)),
            ("digest", string(&self.digest())),
            ("size", self.bytes.len().to_string()),
        ]
    }
}

/// The image config: platform, creation time, the container's entrypoint and environment,
/// the layer's uncompressed digest.
fn config(epoch: u64, diff_id: &str) -> String {
    let created = string(&rfc3339(epoch));
    let history = object(&[("created", created.clone()), ("created_by", string("ostler image build --format oci"))]);
    object(&[
        ("created", created),
        ("architecture", string(ARCHITECTURE)),
        ("os", string(OS)),
        (
            "config",
            object(&[
                ("Env", array(ENV.iter().map(|v| string(v)))),
                ("Entrypoint", array(ENTRYPOINT.iter().map(|a| string(a)))),
                ("WorkingDir", string("/")),
            ]),
        ),
        ("rootfs", object(&[("type", string("layers")), ("diff_ids", array([string(&format!("sha256:{diff_id}"))]))])),
        ("history", array([history])),
    ])
}

/// The image manifest: the config and the one layer.
fn manifest(config: &Blob, layer: &Blob) -> String {
    object(&[
        ("schemaVersion", "2".into()),
        ("mediaType", string(MANIFEST_TYPE)),
        ("config", object(&config.descriptor())),
        ("layers", array([object(&layer.descriptor())])),
    ])
}

/// `index.json`: the one manifest, for linux/amd64, named [`REF_NAME`].
fn index(manifest: &Blob) -> String {
    let mut descriptor = manifest.descriptor();
    descriptor.push(("platform", object(&[("architecture", string(ARCHITECTURE)), ("os", string(OS))])));
    descriptor.push(("annotations", object(&[("org.opencontainers.image.ref.name", string(REF_NAME))])));
    object(&[
        ("schemaVersion", "2".into()),
        ("mediaType", string(INDEX_TYPE)),
        ("manifests", array([object(&descriptor)])),
    ])
}

/// The SHA-256 of `bytes` in lowercase hex.
fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A JSON string.
fn string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON object of the fields in the order given; values are JSON already.
fn object(fields: &[(&str, String)]) -> String {
    let members: Vec<String> = fields.iter().map(|(key, value)| format!("{}:{value}", string(key))).collect();
    format!("{{{}}}", members.join(","))
}

/// A JSON array of values that are JSON already.
fn array(items: impl IntoIterator<Item = String>) -> String {
    format!("[{}]", items.into_iter().collect::<Vec<_>>().join(","))
}

/// `seconds` since 1970 as an RFC 3339 UTC time, `2024-01-01T00:00:00Z`.
fn rfc3339(seconds: u64) -> String {
    let (days, time) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_date(days);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", time / 3600, time % 3600 / 60, time % 60)
}

/// The Gregorian date `days` after 1970-01-01: (year, month, day).
fn civil_date(days: u64) -> (u64, u64, u64) {
    // Count from 0000-03-01, so that a leap day ends its year: a 400-year era has 146 097 days,
    // and within it each year (March to February) 365 days plus one every 4, less one every
    // 100 but the 400th. 719 468 days separate 0000-03-01 from 1970-01-01.
    let days = days + 719_468;
    let era = days / 146_097;
    let day_of_era = days % 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months from March: 153 days for every five months (31, 30, 31, 30, 31).
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entrypoint_is_where_the_minimal_profile_installs_ostler() {
        assert_eq!(ENTRYPOINT[0], format!("/{}", crate::minimal::OSTLER));
        assert_eq!(ENTRYPOINT[1..], ["init", "--container", "--"]);
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(crate::DEFAULT_EPOCH), "2024-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(951_868_799), "2000-02-29T23:59:59Z");
        assert_eq!(rfc3339(951_868_800), "2000-03-01T00:00:00Z");
        assert_eq!(rfc3339(4_107_542_400), "2100-03-01T00:00:00Z", "2100 is not a leap year");
        assert_eq!(rfc3339(1_709_164_800), "2024-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_735_689_599), "2024-12-31T23:59:59Z");
    }

    #[test]
    fn every_day_follows_the_one_before() {
        let mut previous = civil_date(0);
        assert_eq!(previous, (1970, 1, 1));
        for days in 1..200_000 {
            let (year, month, day) = civil_date(days);
            let next_day = (previous.0, previous.1, previous.2 + 1);
            let next_month = (previous.0, previous.1 + 1, 1);
            let next_year = (previous.0 + 1, 1, 1);
            assert!(
                [next_day, next_month, next_year].contains(&(year, month, day)),
                "{days}: {previous:?} then {:?}",
                (year, month, day)
            );
            assert!((1..=12).contains(&month) && (1..=31).contains(&day));
            previous = (year, month, day);
        }
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(string("a\"b\\c\n"), r#""a\"b\\c\u000a""#);
        assert_eq!(object(&[("k", string("v")), ("n", "2".into())]), r#"{"k":"v","n":2}"#);
        assert_eq!(array([string("x"), string("y")]), r#"["x","y"]"#);
        assert_eq!(array(Vec::new()), "[]");
    }

    #[test]
    fn sha256_of_known_inputs() {
        assert_eq!(sha256(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(sha256(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn the_config_names_the_entrypoint_and_the_layer() {
        let text = config(crate::DEFAULT_EPOCH, "00ff");
        assert_eq!(
            text,
            concat!(
                r#"{"created":"2024-01-01T00:00:00Z","architecture":"amd64","os":"linux","#,
                r#""config":{"Env":["PATH=/bin:/sbin:/usr/bin:/usr/sbin"],"#,
                r#""Entrypoint":["/bin/ostler","init","--container","--"],"WorkingDir":"/"},"#,
                r#""rootfs":{"type":"layers","diff_ids":["sha256:00ff"]},"#,
                r#""history":[{"created":"2024-01-01T00:00:00Z","created_by":"ostler image build --format oci"}]}"#
            )
        );
        assert!(!text.contains("Cmd"), "no CMD: `podman run IMAGE` runs the services until stopped");
    }

    #[test]
    fn the_manifest_and_index_point_at_their_blobs() {
        let config = Blob::new(CONFIG_TYPE, b"{}".to_vec());
        let layer = Blob::new(LAYER_TYPE, b"layer".to_vec());
        let manifest = Blob::new(MANIFEST_TYPE, manifest(&config, &layer).into_bytes());
        let text = String::from_utf8(manifest.bytes.clone()).unwrap();
        assert!(text.starts_with(r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","#));
        assert!(text.contains(&format!(
            r#""config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{}","size":2}}"#,
            sha256(b"{}")
        )));
        assert!(text.contains(&format!(
            r#""layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:{}","size":5}}]"#,
            sha256(b"layer")
        )));
        let index = index(&manifest);
        assert!(index.contains(&format!(r#""digest":"{}","size":{}"#, manifest.digest(), manifest.bytes.len())));
        assert!(index.contains(r#""platform":{"architecture":"amd64","os":"linux"}"#));
        assert!(index.contains(r#""annotations":{"org.opencontainers.image.ref.name":"localhost/ostler:minimal"}"#));
    }

    #[test]
    fn machine_only_services_leave_the_tree_and_the_bundle() {
        let root = std::env::temp_dir().join(format!("ostler-oci-services-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let skel = Path::new(env!("CARGO_MANIFEST_DIR")).join("../skel");
        crate::tree::copy_tree(&skel, &root).unwrap();
        keep_container_services(&root).unwrap();
        let names = |dir: &str| {
            let mut names: Vec<String> = std::fs::read_dir(root.join(dir))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        // A service added to skel/ fails here until it is sorted into machine-only or not.
        assert_eq!(names("etc/ostler/sv/default/contents.d"), ["syslogd"]);
        assert_eq!(names("etc/ostler/sv"), ["default", "syslogd"]);
        std::fs::remove_dir_all(&root).unwrap();
    }
}

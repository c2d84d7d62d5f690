//! Reading a definitions directory as it is on disk (s6-rc's source format, plus ostler's `log`
//! file), without judging it: one [`Raw`] per service directory. [`crate::model`] checks them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Files of a definition that describe it to the service manager; everything else in a
/// longrun's directory belongs to the supervisor and is copied to the live service directory.
pub const MANAGER_FILES: &[&str] = &[
    "type",
    "dependencies",
    "dependencies.d",
    "contents",
    "contents.d",
    "producer-for",
    "consumer-for",
    "pipeline-name",
    "flag-essential",
    "flag-recommended",
    "timeout-up",
    "timeout-down",
    "log",
    "up",
    "down",
];

/// One definition directory, as read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Raw {
    /// The directory's name.
    pub name: String,
    /// The directory.
    pub dir: PathBuf,
    /// The `type` file, trimmed (`None`: missing or unreadable).
    pub kind: Option<String>,
    /// `dependencies.d/` or `dependencies`, with the file each name came from.
    pub dependencies: Vec<(String, PathBuf)>,
    /// `contents.d/` or `contents`.
    pub contents: Vec<(String, PathBuf)>,
    /// `producer-for`.
    pub producer_for: Option<String>,
    /// `consumer-for`.
    pub consumer_for: Vec<String>,
    /// `pipeline-name`.
    pub pipeline_name: Option<String>,
    /// `flag-essential` exists.
    pub essential: bool,
    /// `timeout-up`, `timeout-down`: the text, checked later.
    pub timeout_up: Option<String>,
    /// See `timeout_up`.
    pub timeout_down: Option<String>,
    /// ostler's log companion: `log` as a file (its trimmed contents; empty = default directory).
    pub log: Option<String>,
    /// A fingerprint of every file of the definition (for reload).
    pub fingerprint: u64,
}

/// Reads every definition of `dir`, by name. Names starting with `.` and non-directories are
/// skipped, as s6-rc does.
pub fn read_all(dir: &Path) -> std::io::Result<BTreeMap<String, Raw>> {
    let mut all = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !entry.path().is_dir() {
            continue;
        }
        all.insert(name.clone(), read_one(&name, &entry.path()));
    }
    Ok(all)
}

fn read_one(name: &str, dir: &Path) -> Raw {
    let text = |file: &str| std::fs::read_to_string(dir.join(file)).ok();
    let trimmed = |file: &str| text(file).map(|t| t.trim().to_string());
    let kind = trimmed("type");
    Raw {
        name: name.to_string(),
        dir: dir.to_path_buf(),
        dependencies: names(dir, "dependencies"),
        contents: names(dir, "contents"),
        producer_for: trimmed("producer-for").filter(|t| !t.is_empty()),
        consumer_for: text("consumer-for").map(|t| lines(&t)).unwrap_or_default(),
        pipeline_name: trimmed("pipeline-name").filter(|t| !t.is_empty()),
        essential: dir.join("flag-essential").exists(),
        timeout_up: trimmed("timeout-up"),
        timeout_down: trimmed("timeout-down"),
        log: if dir.join("log").is_file() { trimmed("log") } else { None },
        // Only a longrun's definition is compared on reload (a oneshot that is up stays up):
        // reading every file of every oneshot and bundle would slow check and -n for nothing.
        fingerprint: if kind.as_deref() == Some("longrun") { fingerprint(dir) } else { 0 },
        kind,
    }
}

/// `NAME.d/` (the file names) or the legacy `NAME` (one name per line, `#` comments).
fn names(dir: &Path, list: &str) -> Vec<(String, PathBuf)> {
    let listing = dir.join(format!("{list}.d"));
    if let Ok(entries) = std::fs::read_dir(&listing) {
        let mut found: Vec<(String, PathBuf)> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .map(|n| (n.clone(), listing.join(n)))
            .collect();
        found.sort();
        return found;
    }
    let file = dir.join(list);
    std::fs::read_to_string(&file)
        .map(|t| lines(&t).into_iter().map(|n| (n, file.clone())).collect())
        .unwrap_or_default()
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string).collect()
}

/// FNV-1a over every path, mode and content under `dir` (in name order): equal definitions
/// have equal fingerprints, and any edit changes it.
pub fn fingerprint(dir: &Path) -> u64 {
    let mut hash: u64 = 0xcbf29ce484222325;
    let mut feed = |bytes: &[u8]| {
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x100000001b3);
        }
    };
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(dir.join(&relative)) else { continue };
        let mut names: Vec<_> = entries.flatten().map(|e| e.file_name()).collect();
        names.sort();
        for name in names.into_iter().rev() {
            let inside = relative.join(&name);
            let path = dir.join(&inside);
            let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
            feed(inside.as_os_str().as_encoded_bytes());
            feed(&std::os::unix::fs::PermissionsExt::mode(&meta.permissions()).to_le_bytes());
            if meta.is_dir() {
                pending.push(inside);
            } else if meta.file_type().is_symlink() {
                feed(std::fs::read_link(&path).unwrap_or_default().as_os_str().as_encoded_bytes());
            } else {
                feed(&std::fs::read(&path).unwrap_or_default());
            }
        }
    }
    hash
}

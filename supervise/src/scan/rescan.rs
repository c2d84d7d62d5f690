//! What a scan of the scan directory finds: the service directories in it, each with its
//! identity (device, inode). Names starting with `.` are skipped; symlinks are followed (the
//! link's name is the service's name); anything that is not a directory is skipped. Whether a
//! new one has a `log/` companion is asked when it is added ([`has_log`]), as s6-svscan does:
//! a rescan costs one `stat` per entry, not two.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// One service directory found by a scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The entry's name in the scan directory.
    pub name: String,
    /// (device, inode) of the directory it leads to: its identity across scans.
    pub id: (u64, u64),
}

/// Whether the service directory `dir` has a `log/` companion directory.
pub fn has_log(dir: &Path) -> bool {
    std::fs::metadata(dir.join("log")).is_ok_and(|m| m.is_dir())
}

/// Lists the service directories of `scan_dir`, sorted by name.
pub fn scan(scan_dir: &Path) -> std::io::Result<Vec<Found>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(scan_dir)? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = std::fs::metadata(&path) else { continue };
        if !meta.is_dir() {
            continue;
        }
        found.push(Found { name: name.to_string(), id: (meta.dev(), meta.ino()) });
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_dots_files_and_dangling_links_and_follows_links() {
        let root = std::env::temp_dir().join(format!("ostler-rescan-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let scan_dir = root.join("scan");
        std::fs::create_dir_all(scan_dir.join("a/log")).unwrap();
        std::fs::create_dir_all(scan_dir.join(".hidden")).unwrap();
        std::fs::create_dir_all(root.join("elsewhere")).unwrap();
        std::fs::write(scan_dir.join("file"), b"").unwrap();
        std::os::unix::fs::symlink(root.join("elsewhere"), scan_dir.join("linked")).unwrap();
        std::os::unix::fs::symlink(root.join("missing"), scan_dir.join("dangling")).unwrap();
        let found = scan(&scan_dir).unwrap();
        let names: Vec<(&str, bool)> =
            found.iter().map(|f| (f.name.as_str(), has_log(&scan_dir.join(&f.name)))).collect();
        assert_eq!(names, [("a", true), ("linked", false)]);
        std::fs::remove_dir_all(&root).unwrap();
    }
}

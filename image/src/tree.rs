//! The root directory on the host: copying trees into it, giving every file its image mode
//! and time, and reading it back as the sorted entry list both outputs are made from.

use crate::cpio::{self, Entry, Kind};
use crate::ImageError;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Copies the tree `from` into `to` (merging with what is there; files are replaced),
/// keeping symlinks as symlinks.
pub fn copy_tree(from: &Path, to: &Path) -> Result<(), ImageError> {
    std::fs::create_dir_all(to).map_err(ImageError::io("create directory", to))?;
    let mut children = read_dir_sorted(from)?;
    for name in children.drain(..) {
        let source = from.join(&name);
        let target = to.join(&name);
        let meta = std::fs::symlink_metadata(&source).map_err(ImageError::io("read", &source))?;
        if meta.is_dir() {
            copy_tree(&source, &target)?;
        } else if meta.file_type().is_symlink() {
            let link = std::fs::read_link(&source).map_err(ImageError::io("read link", &source))?;
            symlink(&link, &target)?;
        } else {
            remove_if_present(&target)?;
            std::fs::copy(&source, &target).map_err(ImageError::io("copy into the image", &target))?;
        }
    }
    Ok(())
}

/// Writes `bytes` to `path`, creating its parent directories.
pub(crate) fn write(path: &Path, bytes: &[u8]) -> Result<(), ImageError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(ImageError::io("create directory", parent))?;
    }
    std::fs::write(path, bytes).map_err(ImageError::io("write", path))
}

/// Makes `path` a symlink to `target`, replacing whatever file or link is there.
pub fn symlink(target: &Path, path: &Path) -> Result<(), ImageError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(ImageError::io("create directory", parent))?;
    }
    remove_if_present(path)?;
    std::os::unix::fs::symlink(target, path).map_err(ImageError::io("create symlink", path))
}

/// Removes the file, symlink or directory tree at `path`, if there is one.
pub(crate) fn remove_if_present(path: &Path) -> Result<(), ImageError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path).map_err(ImageError::io("remove", path)),
        Ok(_) => std::fs::remove_file(path).map_err(ImageError::io("remove", path)),
        Err(_) => Ok(()),
    }
}

/// The names in `dir`, sorted as bytes.
pub(crate) fn read_dir_sorted(dir: &Path) -> Result<Vec<std::ffi::OsString>, ImageError> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(ImageError::io("read directory", dir))? {
        names.push(entry.map_err(ImageError::io("read directory", dir))?.file_name());
    }
    names.sort();
    Ok(names)
}

/// The mode a path gets in the image: directories 0755, files 0755 when any execute bit is
/// set and 0644 otherwise — git and umasks keep nothing finer — unless `special` names it.
pub fn image_mode(relative: &Path, is_dir: bool, host_mode: u32, special: &[(&str, u32)]) -> u32 {
    if let Some((_, mode)) = special.iter().find(|(path, _)| Path::new(path) == relative) {
        return *mode;
    }
    match (is_dir, host_mode & 0o111 != 0) {
        (true, _) | (false, true) => 0o755,
        (false, false) => 0o644,
    }
}

/// Gives every directory and file under `root` its image mode and the time `epoch`
/// (symlinks carry no mode, and their host time does not reach the image).
pub fn normalize(root: &Path, epoch: u64, special: &[(&str, u32)]) -> Result<(), ImageError> {
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(epoch);
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let path = root.join(&relative);
        let meta = std::fs::symlink_metadata(&path).map_err(ImageError::io("read", &path))?;
        if meta.file_type().is_symlink() {
            continue;
        }
        if meta.is_dir() {
            for name in read_dir_sorted(&path)? {
                pending.push(relative.join(name));
            }
        }
        let mode = image_mode(&relative, meta.is_dir(), meta.permissions().mode(), special);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .map_err(ImageError::io("set the mode of", &path))?;
        let file = std::fs::File::open(&path).map_err(ImageError::io("open", &path))?;
        file.set_times(std::fs::FileTimes::new().set_accessed(time).set_modified(time))
            .map_err(ImageError::io("set the time of", &path))?;
    }
    Ok(())
}

/// Reads the tree under `root` into archive entries (the root itself excluded), sorted.
pub fn entries(root: &Path) -> Result<Vec<Entry>, ImageError> {
    let mut found = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let dir = root.join(&relative);
        for name in read_dir_sorted(&dir)? {
            let inside = relative.join(&name);
            check_name(&inside)?;
            let path = root.join(&inside);
            let meta = std::fs::symlink_metadata(&path).map_err(ImageError::io("read", &path))?;
            let permissions = meta.permissions().mode() & 0o7777;
            let kind = if meta.file_type().is_symlink() {
                Kind::Symlink(std::fs::read_link(&path).map_err(ImageError::io("read link", &path))?)
            } else if meta.is_dir() {
                pending.push(inside.clone());
                Kind::Directory
            } else if meta.is_file() {
                if meta.len() >= u64::from(u32::MAX) {
                    return Err(ImageError::TooLarge { path, size: meta.len() });
                }
                Kind::File(std::fs::read(&path).map_err(ImageError::io("read", &path))?)
            } else {
                return Err(ImageError::Io {
                    action: "put into the image (only directories, files and symlinks can be)",
                    path,
                    source: std::io::Error::from(std::io::ErrorKind::Unsupported),
                });
            };
            found.push(Entry { path: inside, permissions, kind });
        }
    }
    cpio::sort(&mut found);
    Ok(found)
}

/// Refuses names the debugfs script (one command per line, space-separated) cannot carry.
fn check_name(relative: &Path) -> Result<(), ImageError> {
    match relative.to_str() {
        Some(text) if !text.chars().any(|c| c.is_whitespace() || c.is_control() || c == '"') => Ok(()),
        _ => Err(ImageError::BadName { path: relative.to_path_buf() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_follow_the_execute_bit_and_the_special_table() {
        let special = [("tmp", 0o1777), ("etc/shadow", 0o600)];
        assert_eq!(image_mode(Path::new("bin"), true, 0o700, &special), 0o755);
        assert_eq!(image_mode(Path::new("tmp"), true, 0o755, &special), 0o1777);
        assert_eq!(image_mode(Path::new("etc/shadow"), false, 0o644, &special), 0o600);
        assert_eq!(image_mode(Path::new("etc/ostler/sv/x/run"), false, 0o744, &special), 0o755);
        assert_eq!(image_mode(Path::new("etc/passwd"), false, 0o664, &special), 0o644);
    }

    #[test]
    fn a_tree_reads_back_sorted_with_normalized_modes() {
        let root = std::env::temp_dir().join(format!("ostler-image-tree-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("z/y")).unwrap();
        std::fs::create_dir_all(root.join("a")).unwrap();
        std::fs::write(root.join("z/y/file"), b"data").unwrap();
        std::fs::write(root.join("a/tool"), b"#!/bin/sh\n").unwrap();
        std::fs::set_permissions(root.join("a/tool"), std::fs::Permissions::from_mode(0o700)).unwrap();
        symlink(Path::new("/a/tool"), &root.join("z/link")).unwrap();
        normalize(&root, 1_000_000, &[("z/y", 0o700)]).unwrap();
        let found = entries(&root).unwrap();
        let summary: Vec<(String, u32)> =
            found.iter().map(|e| (e.path.to_string_lossy().into_owned(), e.permissions)).collect();
        assert_eq!(
            summary,
            [
                ("a".into(), 0o755),
                ("a/tool".into(), 0o755),
                ("z".into(), 0o755),
                ("z/link".into(), 0o777),
                ("z/y".into(), 0o700),
                ("z/y/file".into(), 0o644)
            ]
        );
        assert_eq!(found[3].kind, Kind::Symlink("/a/tool".into()));
        let modified = std::fs::metadata(root.join("z/y/file")).unwrap().modified().unwrap();
        assert_eq!(modified, SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn names_with_spaces_are_refused() {
        assert!(check_name(Path::new("etc/a b")).is_err());
        assert!(check_name(Path::new("etc/ab")).is_ok());
    }
}

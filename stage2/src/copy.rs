//! Copying a definition directory into `/run/ostler/sv/` (modes and symlinks kept), and
//! linking it into the scan directory.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

/// Copies `from` to `to` recursively (replacing files that exist).
pub fn tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    std::fs::set_permissions(to, std::fs::metadata(from)?.permissions())?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            tree(&source, &target)?;
        } else if kind.is_symlink() {
            let _ = std::fs::remove_file(&target);
            symlink(std::fs::read_link(&source)?, &target)?;
        } else {
            std::fs::copy(&source, &target)?;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(entry.metadata()?.permissions().mode()))?;
        }
    }
    Ok(())
}

/// Makes `link` a symlink to `target`, replacing an old link.
pub fn replace_symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(link) {
        Ok(meta) if meta.file_type().is_symlink() => std::fs::remove_file(link)?,
        _ => {}
    }
    symlink(target, link)
}

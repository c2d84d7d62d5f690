//! Debian's `busybox-static`: the `.deb` (given, cached, or fetched with `apt-get download`),
//! unpacked with `dpkg-deb -x` (no root needed), and the list of applet links to make.

use crate::host::{self, APT_GET, DPKG_DEB};
use crate::ImageError;
use std::path::{Path, PathBuf};

/// The Debian package.
pub const PACKAGE: &str = "busybox-static";

/// Applets that ostler provides instead (`init`, the power commands), or that make no sense
/// in an ostler image (`linuxrc`, the initrd-era entry point).
const REPLACED: &[&str] = &["init", "poweroff", "reboot", "halt", "shutdown", "linuxrc"];

/// The `.deb` to use: `given`, else the one in `cache`, else a fresh `apt-get download` into
/// `cache`.
pub fn deb(given: Option<&Path>, cache: &Path) -> Result<PathBuf, ImageError> {
    if let Some(path) = given {
        return match path.is_file() {
            true => Ok(path.to_path_buf()),
            false => Err(ImageError::Io {
                action: "read",
                path: path.to_path_buf(),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            }),
        };
    }
    if let Some(found) = cached(cache)? {
        return Ok(found);
    }
    std::fs::create_dir_all(cache).map_err(ImageError::io("create directory", cache))?;
    // Download into a private directory, then rename: two builds sharing a cache never see a
    // half-written file.
    let staging = cache.join(format!(".download-{}", std::process::id()));
    std::fs::create_dir_all(&staging).map_err(ImageError::io("create directory", &staging))?;
    let result = host::run(
        APT_GET.command()?.arg("download").arg(PACKAGE).current_dir(&staging),
        "check the network and apt's sources (`apt-get update`), or pass --busybox-deb PATH",
    )
    .and_then(|_| {
        let fetched = cached(&staging)?.ok_or_else(|| ImageError::Io {
            action: "find the downloaded package in",
            path: staging.clone(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        })?;
        let name = fetched.file_name().unwrap_or_default();
        let target = cache.join(name);
        std::fs::rename(&fetched, &target).map_err(ImageError::io("move into the cache", &target))?;
        Ok(target)
    });
    let _ = std::fs::remove_dir_all(&staging);
    result
}

/// The `busybox-static_*.deb` in `dir` (the last by name when there are several).
fn cached(dir: &Path) -> Result<Option<PathBuf>, ImageError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ImageError::io("read directory", dir)(e)),
    };
    let mut debs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with(&format!("{PACKAGE}_")) && name.ends_with(".deb")
        })
        .collect();
    debs.sort();
    Ok(debs.pop())
}

/// Unpacks `deb` into `dir` and returns the path of the busybox binary there.
pub fn unpack(deb: &Path, dir: &Path) -> Result<PathBuf, ImageError> {
    host::run(DPKG_DEB.command()?.arg("-x").arg(deb).arg(dir), "is the file a busybox-static .deb?")?;
    let binary = dir.join("bin/busybox");
    if !binary.is_file() {
        return Err(ImageError::Io {
            action: "find bin/busybox in",
            path: deb.to_path_buf(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
    }
    Ok(binary)
}

/// Asks the (static) busybox binary for its applets, with their install paths.
pub fn applets(binary: &Path) -> Result<Vec<PathBuf>, ImageError> {
    let mut command = std::process::Command::new(binary);
    command.arg("--list-full");
    let output = host::run(&mut command, "busybox-static is static and should run on any x86-64 Linux host")?;
    Ok(links(&String::from_utf8_lossy(&output.stdout)))
}

/// From `busybox --list-full` output (`bin/ash`, `sbin/getty`…): the links to make, sorted,
/// without busybox itself and without the applets in [`REPLACED`].
pub fn links(list_full: &str) -> Vec<PathBuf> {
    let mut links: Vec<PathBuf> = list_full
        .lines()
        .map(|line| line.trim().trim_start_matches('/'))
        .filter(|line| !line.is_empty())
        .map(PathBuf::from)
        .filter(|path| {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            name != "busybox" && !REPLACED.contains(&name.as_ref())
        })
        .collect();
    links.sort();
    links.dedup();
    links
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_leave_out_what_ostler_replaces_and_busybox_itself() {
        let list = "bin/ash\nsbin/init\nlinuxrc\nbin/busybox\nsbin/poweroff\nsbin/reboot\nsbin/halt\n\
                    sbin/getty\nusr/bin/seq\nbin/sh\n/sbin/shutdown\nbin/ash\n";
        let links = links(list);
        let names: Vec<_> = links.iter().map(|p| p.to_str().unwrap()).collect();
        assert_eq!(names, ["bin/ash", "bin/sh", "sbin/getty", "usr/bin/seq"]);
    }

    #[test]
    fn cached_deb_is_found_and_others_ignored() {
        let dir = std::env::temp_dir().join(format!("ostler-image-cache-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(cached(&dir).unwrap(), None);
        std::fs::write(dir.join("busybox_1.35_amd64.deb"), b"").unwrap();
        std::fs::write(dir.join("busybox-static_1%3a1.35.0-4_amd64.deb"), b"").unwrap();
        assert_eq!(cached(&dir).unwrap(), Some(dir.join("busybox-static_1%3a1.35.0-4_amd64.deb")));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(cached(&dir).unwrap(), None);
    }
}

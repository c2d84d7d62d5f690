//! The host programs the builder runs (dpkg-deb, apt-get, mke2fs, debugfs, lz4 or gzip), found
//! on PATH or in the sbin directories, each with the Debian package to install when it is missing.

use crate::ImageError;
use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A host program and the Debian package that ships it.
#[derive(Clone, Copy, Debug)]
pub struct Tool {
    /// The program's name.
    pub name: &'static str,
    /// Its Debian package.
    pub package: &'static str,
}

/// Unpacks `.deb` archives.
pub const DPKG_DEB: Tool = Tool { name: "dpkg-deb", package: "dpkg" };
/// Downloads `.deb` archives.
pub const APT_GET: Tool = Tool { name: "apt-get", package: "apt" };
/// Makes the ext4 disk image.
pub const MKE2FS: Tool = Tool { name: "mke2fs", package: "e2fsprogs" };
/// Fixes owners and times inside the ext4 image.
pub const DEBUGFS: Tool = Tool { name: "debugfs", package: "e2fsprogs" };
/// Compresses the initramfs with `--compress gzip`.
pub const GZIP: Tool = Tool { name: "gzip", package: "gzip" };
/// Makes the EFI System Partition's FAT32 filesystem.
pub const MKFS_VFAT: Tool = Tool { name: "mkfs.vfat", package: "dosfstools" };
/// Copies the ESP's files into its filesystem image.
pub const MCOPY: Tool = Tool { name: "mcopy", package: "mtools" };
/// Converts the raw disk image to qcow2.
pub const QEMU_IMG: Tool = Tool { name: "qemu-img", package: "qemu-utils" };
/// Signs the UKI for Secure Boot.
pub const SBSIGN: Tool = Tool { name: "sbsign", package: "sbsigntool" };
/// Makes GRUB's BIOS core image for the hybrid disk (its modules come from grub-pc-bin).
pub const GRUB_MKIMAGE: Tool = Tool { name: "grub-mkimage", package: "grub-pc-bin" };
/// Compresses the initramfs (the default, in lz4's legacy frame format: the kernel's).
pub const LZ4: Tool = Tool { name: "lz4", package: "lz4" };

impl Tool {
    /// The program's path, or the error naming the package to install.
    pub fn find(self) -> Result<PathBuf, ImageError> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        // Non-root shells often lack the sbin directories, where mke2fs and debugfs live.
        let extra = [PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")];
        std::env::split_paths(&path)
            .chain(extra)
            .map(|dir| dir.join(self.name))
            .find(|candidate| is_executable(candidate))
            .ok_or(ImageError::MissingTool { tool: self.name, package: self.package })
    }

    /// A command running this tool.
    pub fn command(self) -> Result<Command, ImageError> {
        let mut command = Command::new(self.find()?);
        command.stdin(Stdio::null());
        Ok(command)
    }
}

fn is_executable(path: &Path) -> bool {
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs `command` to completion; a failure becomes `ToolFailed` with its stderr and `hint`.
pub fn run(command: &mut Command, hint: &str) -> Result<Output, ImageError> {
    let shown = show(command);
    let output = command.output().map_err(|e| ImageError::ToolFailed {
        command: shown.clone(),
        status: format!("could not start: {e}"),
        stderr: String::new(),
        hint: String::new(),
    })?;
    if output.status.success() {
        return Ok(output);
    }
    Err(ImageError::ToolFailed {
        command: shown,
        status: output.status.to_string(),
        stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        hint: if hint.is_empty() { String::new() } else { format!("; {hint}") },
    })
}

/// A command as a reader would type it.
fn show(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(OsStr::to_string_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_tool_names_its_package() {
        let tool = Tool { name: "no-such-tool-ostler", package: "ostler-pkg" };
        let message = tool.find().unwrap_err().to_string();
        assert!(message.contains("apt-get install ostler-pkg"), "{message}");
    }

    #[test]
    fn failure_carries_stderr_and_hint() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo broken >&2; exit 3"]);
        let message = run(&mut command, "try again").unwrap_err().to_string();
        assert!(message.contains("sh -c"), "{message}");
        assert!(message.contains("broken"), "{message}");
        assert!(message.ends_with("; try again"), "{message}");
    }
}

//! What can go wrong while building an image; every message names the path or tool and says
//! what to do about it.

use std::path::PathBuf;

/// An image build failure.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A host tool the build needs is not installed.
    #[error(
        "`{tool}` is not installed (looked in PATH, /usr/sbin and /sbin); install it with `apt-get install {package}`"
    )]
    MissingTool {
        /// The program's name.
        tool: &'static str,
        /// The Debian package that ships it.
        package: &'static str,
    },
    /// A host tool ran and failed.
    #[error("`{command}` failed ({status}){}{hint}", if stderr.is_empty() { String::new() } else { format!(": {stderr}") })]
    ToolFailed {
        /// The command line, for the reader to try by hand.
        command: String,
        /// How it ended.
        status: String,
        /// What it said on stderr (trimmed).
        stderr: String,
        /// What to do, starting with "; " (or empty).
        hint: String,
    },
    /// A file operation failed.
    #[error("unable to {action} {}: {source}", path.display())]
    Io {
        /// What was being done ("read", "create directory"…).
        action: &'static str,
        /// On what.
        path: PathBuf,
        /// The system's reason.
        source: std::io::Error,
    },
    /// The ostler binary to install is missing.
    #[error("{} does not exist; build it with `cargo build --release --target x86_64-unknown-linux-musl` (from the source tree), or pass --ostler PATH", path.display())]
    NoOstler {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The ostler binary (or busybox) is not a static x86-64 executable.
    #[error("{} is not usable in the image: {reason}; give a static x86-64 build (`cargo build --release --target x86_64-unknown-linux-musl`)", path.display())]
    NotStatic {
        /// The binary.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The kernel modules for the boot initramfs are not usable.
    #[error("{} cannot give the boot initramfs its modules: {reason}; pass --kernel-modules /lib/modules/VERSION of the kernel that boots the disk (package linux-image-amd64)", path.display())]
    NoModules {
        /// The modules directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The skeleton tree is missing.
    #[error("{} is not a directory; run from the ostler source tree or pass --skel DIR", path.display())]
    NoSkel {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The output directory holds something that is not a previous image.
    #[error("{} exists, is not empty and was not made by `ostler image build`; choose another --out or empty it", path.display())]
    ForeignOutput {
        /// The output directory.
        path: PathBuf,
    },
    /// A name that the tools downstream cannot carry.
    #[error("{}: file names in the image must be UTF-8 without spaces or control characters; rename it", path.display())]
    BadName {
        /// The offending path, inside the image.
        path: PathBuf,
    },
    /// The epoch is past what an output can record.
    #[error("the epoch {epoch} is past what {format} can hold (at most {max}); give an earlier --epoch or SOURCE_DATE_EPOCH")]
    EpochTooLarge {
        /// The epoch given.
        epoch: u64,
        /// What would have to hold it ("a tar header").
        format: &'static str,
        /// The largest it holds.
        max: u64,
    },
    /// The EFI stub a UKI is built on is not usable.
    #[error("{}: cannot make a UKI from this EFI stub: {reason}; install systemd-boot-efi and use its linuxx64.efi.stub (or pass --stub FILE)", path.display())]
    BadStub {
        /// The stub.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// An option of the disk image that cannot be carried out as given.
    #[error("{0}")]
    DiskOption(String),
    /// A file or archive too large for the newc format (4 GiB per file).
    #[error("{}: too large for an initramfs ({size} bytes; the newc format stops at 4 GiB)", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
}

impl ImageError {
    /// An `Io` error for `action` on `path`.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ImageError {
        let path = path.into();
        move |source| ImageError::Io { action, path, source }
    }
}

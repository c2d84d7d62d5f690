//! The kernel command line, as stage 1 reads it from `/proc/cmdline`: a few words are ours,
//! the rest is passed on to stage 2.

/// What stage 1 takes from the kernel command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelWords {
    /// `quiet`: print only what matters.
    pub quiet: bool,
    /// `ostler.debug`: print every step.
    pub debug: bool,
    /// `emergency`, `single` or `ostler.emergency`: a root shell on the console before stage 2.
    pub emergency: bool,
    /// `root=` and its companions: the disk to switch to when stage 1 runs from an initramfs.
    pub root: Option<RootWords>,
    /// Every word that is neither ours nor the kernel's `key=value`, for stage 2.
    pub for_stage2: Vec<String>,
}

/// The kernel's words about the root filesystem, as an initramfs reads them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RootWords {
    /// `root=`: `/dev/NAME`, `LABEL=…`, `UUID=…`, `PARTUUID=…` or `PARTLABEL=…`.
    pub device: String,
    /// `rootfstype=`: the filesystem type; every type of `/proc/filesystems` is tried without it.
    pub fstype: Option<String>,
    /// `rootflags=`: mount options.
    pub flags: Option<String>,
    /// `rw` (the kernel's default is `ro`).
    pub read_write: bool,
    /// `rootdelay=SECONDS`: how long to wait for the device (default 30 s, as initramfs-tools).
    pub delay_seconds: Option<u64>,
}

/// Reads the words of a command line.
pub fn parse(line: &str) -> KernelWords {
    let mut words = KernelWords::default();
    let mut root = RootWords::default();
    for word in line.split_whitespace() {
        if let Some((key, value)) = word.split_once('=') {
            match key {
                "root" => root.device = value.to_string(),
                "rootfstype" => root.fstype = Some(value.to_string()),
                "rootflags" => root.flags = Some(value.to_string()),
                "rootdelay" => root.delay_seconds = value.parse().ok(),
                _ => {}
            }
            continue;
        }
        match word {
            "rw" => root.read_write = true,
            "ro" => root.read_write = false,
            "rootwait" => {}
            "quiet" => words.quiet = true,
            "ostler.debug" => words.debug = true,
            "emergency" | "single" | "ostler.emergency" | "-s" | "S" => words.emergency = true,
            _ if word.contains('=') || word.contains('.') => {}
            _ => words.for_stage2.push(word.to_string()),
        }
    }
    if !root.device.is_empty() {
        words.root = Some(root);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ours_and_the_rest() {
        let words =
            parse("BOOT_IMAGE=/vmlinuz root=/dev/vda console=ttyS0 quiet ostler.debug single rescue-me panic=1\n");
        assert!(words.quiet && words.debug && words.emergency);
        assert_eq!(words.for_stage2, ["rescue-me"]);
        assert!(parse("ostler.emergency").emergency);
        assert_eq!(parse("rescue").for_stage2, ["rescue"]);
        assert_eq!(parse(""), KernelWords::default());
    }

    #[test]
    fn root_words() {
        assert_eq!(parse("console=ttyS0 rw quiet").root, None, "no root=: nothing to switch to");
        let root = parse("root=LABEL=ostler rootfstype=ext4 rootflags=noatime rootdelay=5 ro rw").root.unwrap();
        assert_eq!(root.device, "LABEL=ostler");
        assert_eq!(root.fstype.as_deref(), Some("ext4"));
        assert_eq!(root.flags.as_deref(), Some("noatime"));
        assert_eq!(root.delay_seconds, Some(5));
        assert!(root.read_write, "the last of ro / rw wins");
        assert!(!parse("root=/dev/vda").root.unwrap().read_write, "read-only unless rw");
        assert!(parse("root=/dev/vda rw ro").for_stage2.is_empty());
    }
}

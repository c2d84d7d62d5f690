//! `/etc/fstab` read into [`Entry`]s: six fields a line (`fs_spec fs_file fs_vfstype
//! fs_mntops fs_freq fs_passno`, the last three optional), `#` comments, blank lines, octal
//! escapes (`\040` for a space) in the spec and the mount point. Options are sorted here into
//! mount flags, the data string the filesystem gets, and ostler's own words (`noauto`,
//! `nofail`, `bind`, `loop`, `pri=`…), so the rest of the module sees only a checked model.

use ostler_core::mountinfo::unescape;
use std::fmt;
use sys_mount::MountFlags;

/// One line of fstab that asks for something.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The line number in the file, from 1.
    pub line: usize,
    /// What to mount.
    pub spec: Spec,
    /// Where (`none` or `swap` for a swap area), escapes decoded.
    pub target: String,
    /// Filesystem type: `ext4`, `tmpfs`, `auto`, `swap`, `none` (a bind mount)…
    pub fstype: String,
    /// The options, sorted.
    pub options: Options,
    /// fsck's pass (0: not checked). Read for completeness: fsck is a separate step.
    pub passno: u32,
}

impl Entry {
    /// True for a swap area.
    pub fn is_swap(&self) -> bool {
        self.fstype == "swap"
    }
}

/// The first field: a device path (or a name, for filesystems without a device), or a
/// filesystem or partition found by its label or UUID.
#[derive(Debug, Clone, PartialEq)]
pub enum Spec {
    /// A path (`/dev/vdb1`, a file for `loop`, a directory for `bind`) or a name (`tmpfs`).
    Path(String),
    /// `LABEL=`: the filesystem's label.
    Label(String),
    /// `UUID=`: the filesystem's UUID.
    Uuid(String),
    /// `PARTLABEL=`: the GPT partition's name.
    PartLabel(String),
    /// `PARTUUID=`: the partition's UUID.
    PartUuid(String),
}

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Spec::Path(path) => write!(f, "{path}"),
            Spec::Label(label) => write!(f, "LABEL={label}"),
            Spec::Uuid(uuid) => write!(f, "UUID={uuid}"),
            Spec::PartLabel(label) => write!(f, "PARTLABEL={label}"),
            Spec::PartUuid(uuid) => write!(f, "PARTUUID={uuid}"),
        }
    }
}

/// How a mount binds its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bind {
    /// Not a bind mount.
    No,
    /// `bind`: the directory (or file) alone.
    Bind,
    /// `rbind`: the directory with the mounts under it.
    Recursive,
}

/// The options of a line, sorted.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// mount(2) flags (`ro`, `nosuid`, `noatime`…).
    pub flags: MountFlags,
    /// What the filesystem itself gets, comma-separated (`mode=0755`, `errors=remount-ro`…).
    pub data: Vec<String>,
    /// `noauto`: left to a later, explicit mount.
    pub noauto: bool,
    /// `nofail`: a missing device is a warning, not a failure.
    pub nofail: bool,
    /// `_netdev`: needs the network, which comes later than mount-all.
    pub netdev: bool,
    /// `bind` / `rbind`.
    pub bind: Bind,
    /// `loop`: the source is a regular file, seen through a loop device.
    pub loop_device: bool,
    /// Swap: `pri=N`.
    pub priority: Option<u16>,
    /// Swap: `discard`.
    pub discard: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            flags: MountFlags::empty(),
            data: Vec::new(),
            noauto: false,
            nofail: false,
            netdev: false,
            bind: Bind::No,
            loop_device: false,
            priority: None,
            discard: false,
        }
    }
}

impl Options {
    /// True when `ro` was asked for.
    pub fn read_only(&self) -> bool {
        self.flags.contains(MountFlags::RDONLY)
    }

    /// The data string, `None` when empty.
    pub fn data_string(&self) -> Option<String> {
        (!self.data.is_empty()).then(|| self.data.join(","))
    }
}

/// What is wrong with a line.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LineError {
    /// Too few or too many fields.
    #[error("{0} fields; a line is SPEC MOUNTPOINT TYPE [OPTIONS [FREQ [PASSNO]]]")]
    Fields(usize),
    /// `LABEL=` with nothing after it.
    #[error("{0}: empty; write the label or UUID after the =")]
    EmptySpec(String),
    /// FREQ or PASSNO is not a number.
    #[error("{0:?} is not a number; FREQ and PASSNO are small decimal numbers (0 when unsure)")]
    Number(String),
    /// `pri=` out of range.
    #[error("{0}: the priority is a number from 0 to 32767")]
    Priority(String),
    /// An option ostler knows and does not do.
    #[error("option {0:?} is not supported by ostler mount-all; {1}")]
    Unsupported(String, &'static str),
}

/// The flag options: name, flag, and whether the name sets (true) or clears (false) it.
fn flag_option(word: &str) -> Option<(MountFlags, bool)> {
    let lazytime = MountFlags::from_bits_retain(libc::MS_LAZYTIME);
    let nosymfollow = MountFlags::from_bits_retain(libc::MS_NOSYMFOLLOW);
    Some(match word {
        "ro" => (MountFlags::RDONLY, true),
        "rw" => (MountFlags::RDONLY, false),
        "nosuid" => (MountFlags::NOSUID, true),
        "suid" => (MountFlags::NOSUID, false),
        "nodev" => (MountFlags::NODEV, true),
        "dev" => (MountFlags::NODEV, false),
        "noexec" => (MountFlags::NOEXEC, true),
        "exec" => (MountFlags::NOEXEC, false),
        "noatime" => (MountFlags::NOATIME, true),
        "atime" => (MountFlags::NOATIME, false),
        "nodiratime" => (MountFlags::NODIRATIME, true),
        "diratime" => (MountFlags::NODIRATIME, false),
        "relatime" => (MountFlags::RELATIME, true),
        "norelatime" => (MountFlags::RELATIME, false),
        "strictatime" => (MountFlags::STRICTATIME, true),
        "nostrictatime" => (MountFlags::STRICTATIME, false),
        "lazytime" => (lazytime, true),
        "nolazytime" => (lazytime, false),
        "sync" => (MountFlags::SYNCHRONOUS, true),
        "async" => (MountFlags::SYNCHRONOUS, false),
        "dirsync" => (MountFlags::DIRSYNC, true),
        "mand" => (MountFlags::MANDLOCK, true),
        "nomand" => (MountFlags::MANDLOCK, false),
        "silent" => (MountFlags::SILENT, true),
        "loud" => (MountFlags::SILENT, false),
        "nosymfollow" => (nosymfollow, true),
        _ => return None,
    })
}

/// Sorts the fourth field. `swap` entries take `pri=` and `discard`; the words mount(8) uses
/// for itself (`defaults`, `auto`, `user`…), `x-*` and `comment=` are ignored.
pub fn parse_options(text: &str, fstype: &str) -> Result<Options, LineError> {
    let mut options = Options::default();
    for word in text.split(',').filter(|w| !w.is_empty()) {
        if let Some((flag, set)) = flag_option(word) {
            options.flags.set(flag, set);
            continue;
        }
        match word {
            "defaults" | "auto" | "user" | "nouser" | "users" | "owner" | "group" | "sw" => {}
            "noauto" => options.noauto = true,
            "nofail" => options.nofail = true,
            "_netdev" => options.netdev = true,
            "bind" => options.bind = Bind::Bind,
            "rbind" => options.bind = Bind::Recursive,
            "loop" => options.loop_device = true,
            "discard" if fstype == "swap" => options.discard = true,
            _ if word.starts_with("x-") || word.starts_with("comment=") => {}
            _ if fstype == "swap" && word.starts_with("pri=") => {
                let value = word["pri=".len()..].parse::<u16>().ok().filter(|p| *p <= 32767);
                options.priority = Some(value.ok_or_else(|| LineError::Priority(word.into()))?);
            }
            _ if fstype == "swap" && word.starts_with("discard=") => options.discard = true,
            "shared" | "rshared" | "private" | "rprivate" | "slave" | "rslave" | "unbindable" | "runbindable" => {
                return Err(LineError::Unsupported(word.into(), "set the propagation in a oneshot after mount-all"))
            }
            "remount" | "move" | "rmove" => {
                return Err(LineError::Unsupported(word.into(), "fstab describes mounts, not changes to them"))
            }
            _ if ["loop=", "offset=", "sizelimit=", "encryption="].iter().any(|p| word.starts_with(p)) => {
                return Err(LineError::Unsupported(
                    word.into(),
                    "a loop device covers the whole file; set a partial one up in a oneshot",
                ))
            }
            _ => options.data.push(word.to_string()),
        }
    }
    Ok(options)
}

/// Reads the first field, decoding escapes and the quotes of `LABEL="x"`.
pub fn parse_spec(field: &str) -> Result<Spec, LineError> {
    let text = unescape(field);
    let tagged = [
        ("LABEL=", Spec::Label as fn(String) -> Spec),
        ("UUID=", Spec::Uuid),
        ("PARTLABEL=", Spec::PartLabel),
        ("PARTUUID=", Spec::PartUuid),
    ];
    for (prefix, make) in tagged {
        if let Some(value) = text.strip_prefix(prefix) {
            let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
            if value.is_empty() {
                return Err(LineError::EmptySpec(prefix.into()));
            }
            return Ok(make(value.to_string()));
        }
    }
    Ok(Spec::Path(text))
}

/// A mount point written with a trailing slash is the same mount point.
fn normal_target(text: String) -> String {
    match text.trim_end_matches('/') {
        "" if text.starts_with('/') => "/".into(),
        trimmed => trimmed.into(),
    }
}

/// Reads one line (`number` from 1): `Ok(None)` for a blank line or a comment.
pub fn parse_line(number: usize, line: &str) -> Result<Option<Entry>, LineError> {
    let content = line.trim();
    if content.is_empty() || content.starts_with('#') {
        return Ok(None);
    }
    let fields: Vec<&str> = content.split_whitespace().collect();
    if !(3..=6).contains(&fields.len()) {
        return Err(LineError::Fields(fields.len()));
    }
    let number_field = |index: usize| -> Result<u32, LineError> {
        fields.get(index).map_or(Ok(0), |text| text.parse().map_err(|_| LineError::Number(text.to_string())))
    };
    let fstype = fields[2].to_string();
    let options = parse_options(fields.get(3).copied().unwrap_or("defaults"), &fstype)?;
    number_field(4)?;
    Ok(Some(Entry {
        line: number,
        spec: parse_spec(fields[0])?,
        target: normal_target(unescape(fields[1])),
        passno: number_field(5)?,
        fstype,
        options,
    }))
}

/// Reads a whole file: the entries, and the lines that could not be read (with their numbers).
pub fn parse(text: &str) -> (Vec<Entry>, Vec<(usize, LineError)>) {
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    for (index, line) in text.lines().enumerate() {
        match parse_line(index + 1, line) {
            Ok(Some(entry)) => entries.push(entry),
            Ok(None) => {}
            Err(problem) => problems.push((index + 1, problem)),
        }
    }
    (entries, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FSTAB: &str = "\
# /etc/fstab: static file system information.
LABEL=root   /            ext4   errors=remount-ro,noatime  0 1

UUID=0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9 /srv/My\\040Files ext4 defaults,nofail,x-systemd.device-timeout=5 0 2
PARTLABEL=data /data auto ro,nosuid,nodev,noexec,comment=backup 0 0
PARTUUID=\"1234-5678\" /boot/ vfat umask=0077,noauto
/var/cache.img /var/cache ext4 loop,rw
/srv /export none rbind
tmpfs /tmp tmpfs mode=1777,size=20%,nosuid 0 0
/swapfile none swap sw,pri=7,discard 0 0
nas:/share /net nfs _netdev,vers=4
   # an indented comment
";

    #[test]
    fn every_spec_form_and_the_escapes() {
        let (entries, problems) = parse(FSTAB);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(entries.len(), 9);
        assert_eq!(entries[0].spec, Spec::Label("root".into()));
        assert_eq!((entries[0].line, entries[0].target.as_str(), entries[0].passno), (2, "/", 1));
        assert_eq!(entries[1].spec, Spec::Uuid("0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9".into()));
        assert_eq!(entries[1].target, "/srv/My Files");
        assert_eq!(entries[2].spec, Spec::PartLabel("data".into()));
        assert_eq!(entries[3].spec, Spec::PartUuid("1234-5678".into()), "quotes are taken off");
        assert_eq!(entries[3].target, "/boot", "a trailing slash is the same mount point");
        assert_eq!(entries[4].spec, Spec::Path("/var/cache.img".into()));
        assert_eq!(entries[6].spec, Spec::Path("tmpfs".into()));
        assert_eq!(entries[7].line, 10);
        assert_eq!(parse_spec("/dev/disk/by-label/a\\040b").unwrap(), Spec::Path("/dev/disk/by-label/a b".into()));
        assert_eq!(entries[1].spec.to_string(), "UUID=0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9");
    }

    #[test]
    fn options_become_flags_data_and_words() {
        let (entries, _) = parse(FSTAB);
        let root = &entries[0].options;
        assert_eq!(root.flags, MountFlags::NOATIME);
        assert_eq!(root.data_string().as_deref(), Some("errors=remount-ro"));
        let srv = &entries[1].options;
        assert!(srv.nofail && !srv.noauto && srv.data.is_empty(), "x-* is ignored");
        let data = &entries[2].options;
        assert!(data.read_only());
        assert_eq!(data.flags, MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC);
        assert!(data.data.is_empty(), "comment= is ignored");
        assert!(entries[3].options.noauto);
        assert_eq!(entries[3].options.data, ["umask=0077"]);
        assert!(entries[4].options.loop_device && !entries[4].options.read_only());
        assert_eq!(entries[5].options.bind, Bind::Recursive);
        assert_eq!(entries[6].options.data, ["mode=1777", "size=20%"]);
        assert!(entries[7].is_swap());
        assert_eq!((entries[7].options.priority, entries[7].options.discard), (Some(7), true));
        assert!(entries[8].options.netdev);
        assert_eq!(entries[8].options.data, ["vers=4"]);
        let later = parse_options("ro,rw,noatime,atime,relatime,defaults", "ext4").unwrap();
        assert_eq!(later.flags, MountFlags::RELATIME, "a later word undoes an earlier one");
        assert_eq!(parse_options("bind,ro", "none").unwrap().bind, Bind::Bind);
    }

    #[test]
    fn bad_lines_carry_their_numbers_and_the_rest_is_read() {
        let text = "/dev/vda1 /\n/dev/vdb / ext4 defaults x 0\nLABEL= /a ext4\n/f none swap pri=40000\n\
                    /d /e ext4 shared\n/dev/vdc /c ext4\n/a /b ext4 offset=512,loop\n/a /b c d 0 0 extra\n";
        let (entries, problems) = parse(text);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].line, 6);
        let numbers: Vec<usize> = problems.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, [1, 2, 3, 4, 5, 7, 8]);
        assert_eq!(problems[0].1, LineError::Fields(2));
        assert_eq!(problems[1].1, LineError::Number("x".into()));
        assert_eq!(problems[2].1, LineError::EmptySpec("LABEL=".into()));
        assert_eq!(problems[3].1, LineError::Priority("pri=40000".into()));
        assert!(matches!(problems[4].1, LineError::Unsupported(ref w, _) if w == "shared"));
        assert!(problems[5].1.to_string().contains("offset=512"));
        assert_eq!(problems[6].1, LineError::Fields(7));
        assert!(problems[0].1.to_string().contains("SPEC MOUNTPOINT TYPE"));
    }
}

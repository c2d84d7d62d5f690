//! Processes of the service manager: a oneshot's script as a child with a pidfd (so that the
//! event loop polls it beside the supervisors' events), and the lock of the live state; and
//! the file system calls of reading definitions and making live directories, as few as they
//! can be (under emulation each one costs a boot several microseconds).

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// A pidfd for a child (Linux 5.3+).
pub fn pidfd(child: &Child) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, child.id() as libc::pid_t, 0) };
    if raw < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the syscall just returned this fd, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(raw as i32) })
}

/// Where Debian (and others) keep execline's programs, out of the default PATH: its own
/// `execlineb` puts this directory first in PATH, and so does ostler for `up` and `down`.
const EXECLINE_BIN: &str = "/usr/lib/execline/bin";

/// The command for a oneshot's script, lexed (`argv`, not empty): its first word is the
/// program, found in PATH as execline's `exec` would; with execline's own directory first in
/// PATH when the system has one, so that `foreground`, `if`… are found as under `execlineb`.
/// `None`: nothing to run (a bare `exec`).
///
/// One program is stood in for when the system has none: execline's `exec` (`exec [-c] [-l]
/// [-a ARGV0] PROG…`, the second line of the common `#!/bin/sh` + `exec /some/script` shape),
/// which only execs what follows — so such a file runs on a system without execline too, as it
/// would with it. Anywhere execline is installed, its own `exec` runs.
pub fn script_command(argv: &[Vec<u8>]) -> Option<Command> {
    let mut path = std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/local/bin:/usr/bin:/bin"));
    let mut path_changed = false;
    if Path::new(EXECLINE_BIN).is_dir() && !path.as_bytes().split(|&b| b == b':').any(|d| d == EXECLINE_BIN.as_bytes())
    {
        let mut first = OsString::from(EXECLINE_BIN);
        first.push(":");
        first.push(&path);
        path = first;
        path_changed = true;
    }
    let mut clear_env = false;
    let mut argv0 = None;
    let mut argv = argv;
    if argv.first().is_some_and(|p| p == b"exec") && !in_path(&path, b"exec") {
        (argv, clear_env, argv0) = exec_options(&argv[1..]);
        argv.first()?;
    }
    let mut command = Command::new(OsStr::from_bytes(&argv[0]));
    command.args(argv[1..].iter().map(|word| OsStr::from_bytes(word)));
    if clear_env {
        command.env_clear();
    }
    if let Some(argv0) = argv0 {
        std::os::unix::process::CommandExt::arg0(&mut command, argv0);
    }
    if path_changed && !clear_env {
        command.env("PATH", path);
    }
    Some(command)
}

/// execline `exec`'s options (`-c`: an empty environment, `-l`: a login argv0 with a `-`,
/// `-a NAME`: argv0), and the command line after them.
fn exec_options(words: &[Vec<u8>]) -> (&[Vec<u8>], bool, Option<OsString>) {
    let (mut clear, mut login, mut argv0) = (false, false, None);
    let mut at = 0;
    while let Some(word) = words.get(at) {
        if word == b"--" {
            at += 1;
            break;
        }
        let Some(flags) = word.strip_prefix(b"-").filter(|f| !f.is_empty()) else { break };
        at += 1;
        for (i, flag) in flags.iter().enumerate() {
            match flag {
                b'c' => clear = true,
                b'l' => login = true,
                b'a' => {
                    let name = if i + 1 < flags.len() { Some(flags[i + 1..].to_vec()) } else { words.get(at).cloned() };
                    if i + 1 >= flags.len() {
                        at += 1;
                    }
                    argv0 = name.map(OsString::from_vec);
                    break;
                }
                _ => {}
            }
        }
    }
    let rest = &words[at.min(words.len())..];
    if login {
        let name = argv0.clone().or_else(|| rest.first().map(|p| OsString::from_vec(p.clone())));
        argv0 = name.map(|n| {
            let mut dashed = OsString::from("-");
            dashed.push(n);
            dashed
        });
    }
    (rest, clear, argv0)
}

/// Whether `program` is an executable file in a directory of `path`.
fn in_path(path: &OsStr, program: &[u8]) -> bool {
    path.as_bytes().split(|&b| b == b':').filter(|d| !d.is_empty()).any(|dir| {
        let candidate = Path::new(OsStr::from_bytes(dir)).join(OsStr::from_bytes(program));
        nix::unistd::access(&candidate, nix::unistd::AccessFlags::X_OK).is_ok() && candidate.is_file()
    })
}

/// Takes the live state's lock (fcntl, whole file), waiting for another `ostler rc` to finish;
/// it lasts as long as the returned file is open.
pub fn lock(path: &Path) -> std::io::Result<std::fs::File> {
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_CLOEXEC;
    let file = std::fs::File::from(nix::fcntl::openat(AT_CWD, path, flags, Mode::from_bits_truncate(0o666))?);
    // SAFETY: a zeroed flock is a valid "whole file" description once type and whence are set.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = libc::F_WRLCK as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    loop {
        match nix::fcntl::fcntl(&file, nix::fcntl::FcntlArg::F_SETLKW(&lock)) {
            Ok(_) => return Ok(file),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// What a directory entry is, as the directory says (a symbolic link is not followed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryType {
    /// A directory.
    Dir,
    /// A regular file.
    File,
    /// A symbolic link.
    Symlink,
    /// A FIFO, a socket, a device.
    Other,
}

impl EntryType {
    /// The type an `st_mode` says.
    pub fn of_mode(mode: u32) -> EntryType {
        match mode & libc::S_IFMT {
            libc::S_IFDIR => EntryType::Dir,
            libc::S_IFREG => EntryType::File,
            libc::S_IFLNK => EntryType::Symlink,
            _ => EntryType::Other,
        }
    }
}

/// An open directory, listed and read through its fd: no `DIR` to allocate, no stat per entry
/// (the entry types come with the listing, [`ostler_core::listing`]), paths resolved from the
/// directory.
///
/// Files are opened with `openat`, not `open`: musl's `open` follows every `O_CLOEXEC` open
/// with an `fcntl(F_SETFD)` for kernels older than 2.6.23, a system call for nothing here.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
}

const AT_CWD: BorrowedFd<'static> = nix::fcntl::AT_FDCWD;

impl Dir {
    /// Opens `path` (following a symbolic link, as a path given by the user may be one).
    pub fn open(path: &Path) -> std::io::Result<Dir> {
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        Ok(Dir { fd: nix::fcntl::openat(AT_CWD, path, flags, Mode::empty())? })
    }

    /// Opens the subdirectory `name`; `follow`: or the directory a symbolic link leads to.
    pub fn open_dir(&self, name: &OsStr, follow: bool) -> std::io::Result<Dir> {
        let no_follow = if follow { OFlag::empty() } else { OFlag::O_NOFOLLOW };
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | no_follow;
        Ok(Dir { fd: nix::fcntl::openat(&self.fd, name, flags, Mode::empty())? })
    }

    /// The directory's own mode (type and permission bits).
    pub fn mode(&self) -> std::io::Result<u32> {
        Ok(nix::sys::stat::fstat(&self.fd)?.st_mode)
    }

    /// The mode of `name`, not following a symbolic link.
    pub fn mode_of(&self, name: &OsStr) -> std::io::Result<u32> {
        Ok(nix::sys::stat::fstatat(&self.fd, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)?.st_mode)
    }

    /// Every entry but `.` and `..`, with its type, in the directory's order.
    pub fn list(&self) -> std::io::Result<Vec<(OsString, EntryType)>> {
        let mut entries = Vec::new();
        let mut unknown = Vec::new();
        ostler_core::listing::each(&self.fd, |name, kind| {
            let name = OsStr::from_bytes(name.to_bytes()).to_os_string();
            // An unknown type comes as S_IFMT: some file systems do not say, and must be asked.
            match kind.as_raw_mode() & libc::S_IFMT {
                libc::S_IFMT => unknown.push(name),
                mode => entries.push((name, EntryType::of_mode(mode))),
            }
        })?;
        for name in unknown {
            if let Ok(mode) = self.mode_of(&name) {
                entries.push((name, EntryType::of_mode(mode)));
            }
        }
        Ok(entries)
    }

    /// The mode and contents of the regular file `name` (a symbolic link is followed).
    pub fn read(&self, name: &OsStr) -> std::io::Result<(u32, Contents)> {
        read_at(self.fd.as_fd(), name)
    }

    /// The mode (`st_mode`) and size of what `name` leads to (a symbolic link is followed);
    /// `None` when it leads nowhere, or cannot be asked.
    pub fn followed(&self, name: &OsStr) -> Option<(u32, u64)> {
        let stat = nix::sys::stat::fstatat(&self.fd, name, nix::fcntl::AtFlags::empty()).ok()?;
        Some((stat.st_mode, u64::try_from(stat.st_size).unwrap_or(0)))
    }

    /// The target of the symbolic link `name`.
    pub fn read_link(&self, name: &OsStr) -> std::io::Result<PathBuf> {
        Ok(PathBuf::from(nix::fcntl::readlinkat(&self.fd, name)?))
    }
}

/// The most a definition file may hold. Definitions are read whole, into memory, by `ostler
/// rc check`, by stage 2 and by every `rc change`: a sparse file of a few terabytes (one
/// `truncate -s 4T`) must be a problem named, not an allocation that aborts the service
/// manager. A service's large data belongs elsewhere, named by path.
pub const DEFINITION_FILE_LIMIT: u64 = 16 << 20;

/// What a definition file holds, as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Contents {
    /// Its bytes.
    Bytes(Vec<u8>),
    /// More than [`DEFINITION_FILE_LIMIT`] bytes (at least that many): not read.
    TooLarge(u64),
}

/// The mode and contents of the regular file `path` (a symbolic link is followed), as a
/// definition file: no more than [`DEFINITION_FILE_LIMIT`] bytes are read or reserved.
pub fn read_file(path: &Path) -> std::io::Result<(u32, Contents)> {
    read_at(AT_CWD, path)
}

fn read_at<P: ?Sized + nix::NixPath>(dir: BorrowedFd<'_>, path: &P) -> std::io::Result<(u32, Contents)> {
    let mut file =
        std::fs::File::from(nix::fcntl::openat(dir, path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())?);
    let meta = nix::sys::stat::fstat(&file)?;
    let size = u64::try_from(meta.st_size).unwrap_or(0);
    if size > DEFINITION_FILE_LIMIT {
        return Ok((meta.st_mode, Contents::TooLarge(size)));
    }
    // Within the limit, so within usize too.
    let size = size as usize;
    let limit = DEFINITION_FILE_LIMIT as usize;
    // One byte more than the size: a read that comes back short with the whole size in hand is
    // at the end of the file, so the usual read of 0 bytes to make sure is not needed.
    let mut bytes = Vec::with_capacity(size + 1);
    loop {
        if bytes.len() == bytes.capacity() {
            // Longer than its size said (it grew, or it is not what fstat measures): read on,
            // but never past one byte over the limit.
            if bytes.len() > limit {
                return Ok((meta.st_mode, Contents::TooLarge(bytes.len() as u64)));
            }
            bytes.reserve_exact(bytes.capacity().max(64).min(limit + 1 - bytes.len()));
        }
        let asked = bytes.capacity() - bytes.len();
        let got = read_into(&mut file, &mut bytes)?;
        if got == 0 || (got < asked && bytes.len() == size) {
            if bytes.len() > limit {
                return Ok((meta.st_mode, Contents::TooLarge(bytes.len() as u64)));
            }
            return Ok((meta.st_mode, Contents::Bytes(bytes)));
        }
    }
}

/// Appends to `bytes` what one read gives, up to its capacity; returns how much.
fn read_into(file: &mut std::fs::File, bytes: &mut Vec<u8>) -> std::io::Result<usize> {
    // Into the spare capacity as it is, not zeroed first: a `run` that links to a program is
    // read whole, and zeroing its megabyte a byte at a time cost stage 2 4 ms a service under
    // emulation (bench/boot, issue 15).
    loop {
        match rustix::io::read(&*file, rustix::buffer::spare_capacity(bytes)) {
            Err(rustix::io::Errno::INTR) => continue,
            got => return got.map_err(Into::into),
        }
    }
}

/// A small file, in one read when it holds less than `limit` bytes: a read that comes back
/// short is taken as the end, as it is for a regular file on a local file system. For the
/// supervisor's files, which are replaced whole by rename; a caller that finds what it read
/// malformed reads again the usual way.
pub fn read_small(path: &Path, limit: usize) -> std::io::Result<Vec<u8>> {
    let mut file =
        std::fs::File::from(nix::fcntl::openat(AT_CWD, path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())?);
    let mut bytes = Vec::with_capacity(limit.max(1));
    while read_into(&mut file, &mut bytes)? > 0 && bytes.len() == bytes.capacity() {
        bytes.reserve(limit.max(1));
    }
    Ok(bytes)
}

/// Writes `contents` to `path` with exactly `mode`, as a copy keeps its source's mode. `new`:
/// the file must not exist yet (it is created with its mode, and needs no chmod unless the
/// umask takes bits away); otherwise it is created or truncated, and its mode set.
pub fn write_file(path: &Path, contents: &[u8], mode: u32, new: bool) -> std::io::Result<()> {
    let exclusive = if new { OFlag::O_EXCL } else { OFlag::empty() };
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC | OFlag::O_CLOEXEC | exclusive;
    let permissions = Mode::from_bits_truncate((mode & 0o7777) as libc::mode_t);
    let fd = nix::fcntl::openat(AT_CWD, path, flags, permissions)?;
    let mut file = std::fs::File::from(fd);
    std::io::Write::write_all(&mut file, contents)?;
    // Set-user-ID and set-group-ID bits may be dropped by the kernel at creation, too.
    if !new || !ostler_core::umask::keeps(mode) {
        nix::sys::stat::fchmod(&file, permissions)?;
    }
    Ok(())
}

/// Creates or truncates `path` and writes `contents`, as `std::fs::write` does; a new file
/// gets `mode` less the umask (`std::fs::write`'s is 0o666).
pub fn write_plain(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    write_opened(path, contents, mode, OFlag::O_TRUNC)
}

/// Appends `contents` to `path`, creating it (0o666 less the umask) if need be.
pub fn append(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    write_opened(path, contents, 0o666, OFlag::O_APPEND)
}

fn write_opened(path: &Path, contents: &[u8], mode: u32, how: OFlag) -> std::io::Result<()> {
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_CLOEXEC | how;
    let fd = nix::fcntl::openat(AT_CWD, path, flags, Mode::from_bits_truncate((mode & 0o7777) as libc::mode_t))?;
    if !contents.is_empty() {
        std::io::Write::write_all(&mut std::fs::File::from(fd), contents)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<Vec<u8>> {
        line.split(' ').map(|w| w.as_bytes().to_vec()).collect()
    }

    #[test]
    fn a_definition_file_is_read_up_to_the_limit_and_no_further() {
        let dir = crate::testing::scratch("sys-limit");
        let sparse = dir.join("sparse");
        std::fs::File::create(&sparse).unwrap().set_len(1 << 42).unwrap();
        let (_, contents) = read_file(&sparse).unwrap();
        assert_eq!(contents, Contents::TooLarge(1 << 42), "told by its size, nothing reserved or read");
        std::fs::File::create(&sparse).unwrap().set_len(DEFINITION_FILE_LIMIT).unwrap();
        let (_, contents) = read_file(&sparse).unwrap();
        assert!(
            matches!(contents, Contents::Bytes(b) if b.len() as u64 == DEFINITION_FILE_LIMIT),
            "the limit is allowed"
        );
        // A file whose size says nothing (a device, /proc): read until one byte over the limit.
        let (_, contents) = read_file(Path::new("/dev/zero")).unwrap();
        assert_eq!(contents, Contents::TooLarge(DEFINITION_FILE_LIMIT + 1));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn execline_exec_stands_in_with_its_options() {
        let check = |line: &str, rest: &str, clear: bool, argv0: Option<&str>| {
            let words = words(line);
            let (left, cleared, name) = exec_options(&words);
            let left: Vec<String> = left.iter().map(|w| String::from_utf8_lossy(w).into_owned()).collect();
            assert_eq!((left.join(" "), cleared, name), (rest.to_string(), clear, argv0.map(OsString::from)), "{line}");
        };
        check("/etc/rc/up-net start", "/etc/rc/up-net start", false, None);
        check("-c /bin/env", "/bin/env", true, None);
        check("-l /bin/sh -i", "/bin/sh -i", false, Some("-/bin/sh"));
        check("-a dash /bin/sh", "/bin/sh", false, Some("dash"));
        check("-cladash /bin/sh", "/bin/sh", true, Some("-dash"));
        check("-- -weird", "-weird", false, None);
        assert!(in_path(OsStr::new("/nowhere:/bin:/usr/bin"), b"sh"));
        assert!(!in_path(OsStr::new("/nowhere"), b"sh"));
        // Only when the system has no `exec` of its own.
        let plain = script_command(&words("exec /bin/true")).unwrap();
        let expected =
            if in_path(OsStr::new(&format!("{EXECLINE_BIN}:/usr/bin:/bin")), b"exec") { "exec" } else { "/bin/true" };
        assert_eq!(plain.get_program(), expected);
        assert!(script_command(&words("exec -c")).is_none() || in_path(OsStr::new(EXECLINE_BIN), b"exec"));
    }
}

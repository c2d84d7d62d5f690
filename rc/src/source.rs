//! Reading a definitions directory as it is on disk (s6-rc's source format, plus ostler's `log`
//! file), without judging it: one [`Raw`] per service directory. [`crate::model`] checks them.
//!
//! Each definition directory is listed once; only the files the listing shows are opened. A
//! longrun's files are all read, once: they make its fingerprint (for reload), and they are
//! what its live service directory gets a copy of ([`crate::live`]), so that neither has to
//! go back to the disk.

pub use crate::sys::DEFINITION_FILE_LIMIT;
use crate::sys::{self, EntryType};
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    /// The word of the `type` file, when it holds one as s6-rc-compile reads it (see
    /// [`type_word`]).
    pub kind: Option<&'static str>,
    /// The `type` file's text (`None`: missing or unreadable), for the message when it holds
    /// no type.
    pub type_text: Option<String>,
    /// What is wrong with the shape of its files, found while reading them: the file's name
    /// in the definition, and the message.
    pub malformed: Vec<(&'static str, String)>,
    /// `dependencies.d/` or `dependencies`, with the file each name came from.
    pub dependencies: Vec<(String, PathBuf)>,
    /// `contents.d/` or `contents`.
    pub contents: Vec<(String, PathBuf)>,
    /// `producer-for`, when it names exactly one service (anything else is `malformed`).
    pub producer_for: Option<String>,
    /// `consumer-for`: the names (an empty file is no file).
    pub consumer_for: Vec<String>,
    /// `pipeline-name`, when it holds exactly one name (anything else is `malformed`).
    pub pipeline_name: Option<String>,
    /// `flag-essential` exists.
    pub essential: bool,
    /// `timeout-up`, `timeout-down`: the text, as it is, checked later.
    pub timeout_up: Option<String>,
    /// See `timeout_up`.
    pub timeout_down: Option<String>,
    /// ostler's log companion: `log` as a file (its trimmed contents; empty = default directory).
    pub log: Option<String>,
    /// For a oneshot: `up` and `down`, as found (`None`: there is none).
    pub up: Option<File>,
    /// See `up`.
    pub down: Option<File>,
    /// For a longrun, every file of the definition (see [`File`]); empty for the others.
    pub files: Arc<[File]>,
    /// The files read and found over [`DEFINITION_FILE_LIMIT`] (not read): each one's path
    /// inside the definition directory, and its size.
    pub too_large: Vec<(PathBuf, u64)>,
    /// A fingerprint of every file of a longrun's definition (for reload); 0 for the others.
    pub fingerprint: u64,
}

impl Raw {
    /// A longrun's file at the top of its definition directory.
    pub fn file(&self, name: &str) -> Option<&File> {
        top_level(&self.files, name)
    }

    /// The text of a longrun's top-level file, as reading it by its path would give it.
    pub fn text(&self, name: &str) -> Option<String> {
        self.file(name).and_then(|file| file.text(&self.dir))
    }
}

/// One file of a longrun's definition, as read. A definition's files come in name order, each
/// directory followed by what it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct File {
    /// Its path inside the definition directory.
    pub path: PathBuf,
    /// Its type and permission bits (`st_mode`; a symbolic link's are always `0o120777`).
    pub mode: u32,
    /// What it holds.
    pub content: Content,
}

/// What a [`File`] holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// A directory (its files follow it).
    Dir,
    /// A symbolic link, with its target and, at the top of the definition, the `st_mode` of
    /// what it leads to (`None` below the top, or when it leads nowhere): the model checks
    /// `run` and the live directory links a program by it, without asking the kernel again.
    Symlink(PathBuf, Option<u32>),
    /// A regular file's bytes.
    Bytes(Vec<u8>),
    /// Not read: a FIFO, a socket, a device (opening a FIFO would block), or a file that could
    /// not be read.
    Other,
    /// Not read: a regular file over [`DEFINITION_FILE_LIMIT`] (or, at the top of the
    /// definition, a symbolic link leading to one), with its size.
    TooLarge(u64),
}

impl Content {
    /// What a symbolic link at the top of the definition leads to, as found when it was read.
    pub fn leads_to(&self) -> Option<EntryType> {
        match self {
            Content::Symlink(_, Some(mode)) => Some(EntryType::of_mode(*mode)),
            _ => None,
        }
    }
}

impl File {
    /// Its text, as `std::fs::read_to_string` of its path in `dir` would give it (a symbolic
    /// link is followed there).
    fn text(&self, dir: &Path) -> Option<String> {
        self.bytes(dir).and_then(|bytes| String::from_utf8(bytes).ok())
    }

    /// Its bytes, as `std::fs::read` of its path in `dir` would give them (`None`: not a file
    /// that can be read, or one over [`DEFINITION_FILE_LIMIT`]).
    pub fn bytes(&self, dir: &Path) -> Option<Vec<u8>> {
        match &self.content {
            Content::Bytes(bytes) => Some(bytes.clone()),
            Content::Symlink(..) => match sys::read_file(&dir.join(&self.path)) {
                Ok((_, sys::Contents::Bytes(bytes))) => Some(bytes),
                Ok((_, sys::Contents::TooLarge(_))) | Err(_) => None,
            },
            Content::Dir | Content::Other | Content::TooLarge(_) => None,
        }
    }
}

fn top_level<'a>(files: &'a [File], name: &str) -> Option<&'a File> {
    files.iter().find(|f| f.path.as_os_str() == name)
}

/// Every definition of several directories, read together as s6-rc-compile reads the source
/// directories it is given.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    /// The directories, in the order given.
    pub dirs: Vec<PathBuf>,
    /// Every definition, by name: the first directory's when a name is in two.
    pub raws: BTreeMap<String, Raw>,
    /// Names defined in more than one directory: the name, the definition kept in `raws`, and
    /// the other one.
    pub duplicates: Vec<(String, PathBuf, PathBuf)>,
}

/// A definitions directory that cannot be listed.
#[derive(Debug, thiserror::Error)]
#[error("unable to read {}: {source}", dir.display())]
pub struct ReadError {
    /// The directory.
    pub dir: PathBuf,
    /// Why.
    pub source: std::io::Error,
}

/// Reads every definition of every directory of `dirs`.
pub fn read_dirs(dirs: &[PathBuf]) -> Result<Sources, ReadError> {
    let mut sources = Sources { dirs: dirs.to_vec(), ..Sources::default() };
    for dir in dirs {
        read_into(dir, &mut sources.raws, &mut sources.duplicates)
            .map_err(|source| ReadError { dir: dir.clone(), source })?;
    }
    Ok(sources)
}

/// Reads every definition of `dir`, by name. Names starting with `.` and non-directories are
/// skipped, as s6-rc does.
pub fn read_all(dir: &Path) -> std::io::Result<BTreeMap<String, Raw>> {
    let mut all = BTreeMap::new();
    read_into(dir, &mut all, &mut Vec::new())?;
    Ok(all)
}

/// Adds every definition of `dir` to `all`; a name `all` has already is not read again, but
/// noted in `duplicates` (the name, the definition kept, this one).
fn read_into(
    dir: &Path,
    all: &mut BTreeMap<String, Raw>,
    duplicates: &mut Vec<(String, PathBuf, PathBuf)>,
) -> std::io::Result<()> {
    let top = sys::Dir::open(dir)?;
    for (entry, kind) in top.list()? {
        let name = entry.to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = dir.join(&entry);
        let is_dir = match kind {
            EntryType::Dir => true,
            EntryType::Symlink => path.is_dir(),
            EntryType::File | EntryType::Other => false,
        };
        if !is_dir {
            continue;
        }
        match all.entry(name) {
            std::collections::btree_map::Entry::Occupied(first) => {
                duplicates.push((first.key().clone(), first.get().dir.clone(), path));
            }
            std::collections::btree_map::Entry::Vacant(slot) => {
                let handle = top.open_dir(&entry, true).ok();
                let raw = read_one(slot.key(), &path, handle);
                slot.insert(raw);
            }
        }
    }
    Ok(())
}

/// One definition directory (`handle`: it, open; `None` when it cannot be: nothing in it can be
/// read then).
fn read_one(name: &str, dir: &Path, handle: Option<sys::Dir>) -> Raw {
    let mut raw = Raw { name: name.to_string(), dir: dir.to_path_buf(), ..Raw::default() };
    let Some(handle) = handle else { return raw };
    let mut top = handle.list().unwrap_or_default();
    top.sort_by(|a, b| a.0.cmp(&b.0));
    let mut reader = Reader { dir, handle, top, files: Vec::new(), too_large: Default::default() };
    let type_file = reader.read_top("type");
    let type_bytes = type_file.as_ref().and_then(|f| f.bytes(dir));
    let kind = type_bytes.as_deref().and_then(type_word);
    raw.type_text = type_bytes.map(|b| String::from_utf8_lossy(&b).into_owned());
    // Only a longrun's definition is compared on reload (a oneshot that is up stays up), and
    // copied: reading every file of every oneshot and bundle would slow check and -n for nothing.
    if kind == Some("longrun") {
        let mut files = Vec::new();
        walk(&reader.handle, &reader.top, Path::new(""), &mut files, type_file);
        reader.files = files;
        raw.fingerprint = fingerprint(&reader.files);
    }
    if kind == Some("oneshot") {
        raw.up = reader.read_top("up");
        raw.down = reader.read_top("down");
    }
    let trimmed = |file: &str| reader.text(file).map(|t| t.trim().to_string());
    raw.dependencies = reader.names("dependencies").unwrap_or_default();
    let contents = reader.names("contents");
    if kind == Some("bundle") && contents.is_none() {
        let message = "missing; a bundle needs contents.d/ (a file per member, or a .empty file when it has none) or a contents file";
        raw.malformed.push(("contents", message.to_string()));
    }
    raw.contents = contents.unwrap_or_default();
    // One name each: s6-rc-compile refuses an empty file or a second name.
    let mut one_name = |file: &'static str| {
        let names = names_in(&reader.text(file)?);
        if names.len() != 1 {
            let found = if names.is_empty() { "none".to_string() } else { names.join(", ") };
            raw.malformed.push((file, format!("must hold exactly one name, and holds {found}; write one")));
        }
        names.into_iter().next()
    };
    raw.producer_for = one_name("producer-for");
    // pipeline-name matters only on a pipeline's last consumer (the model says so elsewhere).
    let consumer_for = reader.text("consumer-for").map(|t| names_in(&t)).unwrap_or_default();
    if !consumer_for.is_empty() && raw.producer_for.is_none() {
        raw.pipeline_name = one_name("pipeline-name");
    } else {
        raw.pipeline_name = reader.text("pipeline-name").and_then(|t| names_in(&t).into_iter().next());
    }
    raw.consumer_for = consumer_for;
    raw.essential = reader.exists("flag-essential");
    raw.timeout_up = reader.text("timeout-up");
    raw.timeout_down = reader.text("timeout-down");
    raw.log = if reader.is_file("log") { trimmed("log") } else { None };
    raw.kind = kind;
    let mut too_large = reader.too_large.into_inner();
    for file in &reader.files {
        if let Content::TooLarge(size) = file.content {
            too_large.push((file.path.clone(), size));
        }
    }
    too_large.sort();
    too_large.dedup();
    raw.too_large = too_large;
    raw.files = reader.files.into();
    raw
}

/// The service type a `type` file names, read as s6-rc-compile reads it: its first 8 bytes,
/// less one final newline, must be exactly `longrun`, `oneshot` or `bundle` (so `longrun` and
/// `longrun\n` are, `longrun ` and `Longrun` are not).
pub fn type_word(bytes: &[u8]) -> Option<&'static str> {
    let head = &bytes[..bytes.len().min(8)];
    if head.len() < 6 {
        return None;
    }
    let word = head.strip_suffix(b"\n").unwrap_or(head);
    ["longrun", "oneshot", "bundle"].into_iter().find(|w| w.as_bytes() == word)
}

/// The names of a flat list file (`dependencies`, `contents`, `consumer-for`…), as s6-rc
/// reads them: one a line, leading spaces and tabs skipped, blank lines and lines starting
/// with `#` ignored, the rest of the line the name (trailing blanks included), each once.
pub fn names_in(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    // A set for "each once": a scan of every name so far made a long list quadratic (a file of
    // 100 000 names, 5·10⁹ comparisons).
    let mut seen = std::collections::HashSet::new();
    for line in text.split('\n') {
        let name = line.trim_start_matches([' ', '\t']);
        if name.is_empty() || name.starts_with('#') || !seen.insert(name) {
            continue;
        }
        names.push(name.to_string());
    }
    names
}

/// A definition directory being read: its listing, and once known to be a longrun's, its files.
struct Reader<'a> {
    dir: &'a Path,
    handle: sys::Dir,
    /// The top level, sorted.
    top: Vec<(OsString, EntryType)>,
    files: Vec<File>,
    /// The top-level files read now and found too large (a longrun's are in `files`).
    too_large: std::cell::RefCell<Vec<(PathBuf, u64)>>,
}

impl Reader<'_> {
    fn kind_of(&self, name: &str) -> Option<EntryType> {
        self.top.iter().find(|(n, _)| n.as_os_str() == name).map(|(_, kind)| *kind)
    }

    /// A top-level file, read now (`None`: there is none).
    fn read_top(&self, name: &str) -> Option<File> {
        let kind = self.kind_of(name)?;
        let file = read_entry(&self.handle, OsStr::new(name), kind, PathBuf::from(name));
        if let Content::TooLarge(size) = file.content {
            self.too_large.borrow_mut().push((file.path.clone(), size));
        }
        Some(file)
    }

    /// A top-level file's text, as reading it by its path would give it.
    fn text(&self, name: &str) -> Option<String> {
        match top_level(&self.files, name) {
            Some(file) => file.text(self.dir),
            // Not a longrun: the file is read now, if the listing has it.
            None if self.files.is_empty() => self.read_top(name)?.text(self.dir),
            None => None,
        }
    }

    /// As `Path::exists` (a symbolic link counts when it leads somewhere).
    fn exists(&self, name: &str) -> bool {
        match self.kind_of(name) {
            None => false,
            Some(EntryType::Symlink) => self.dir.join(name).exists(),
            Some(_) => true,
        }
    }

    /// As `Path::is_file`.
    fn is_file(&self, name: &str) -> bool {
        match self.kind_of(name) {
            Some(EntryType::File) => true,
            Some(EntryType::Symlink) => self.dir.join(name).is_file(),
            _ => false,
        }
    }

    /// `NAME.d/` (the file names) or the legacy `NAME` (one name per line, `#` comments);
    /// `None` when there is neither.
    fn names(&self, list: &str) -> Option<Vec<(String, PathBuf)>> {
        let listed = format!("{list}.d");
        let listing = self.dir.join(&listed);
        let entries: Option<Vec<OsString>> = match self.kind_of(&listed) {
            Some(EntryType::Dir) if !self.files.is_empty() => Some(
                self.files
                    .iter()
                    .filter(|f| f.path.parent() == Some(Path::new(&listed)))
                    .filter_map(|f| f.path.file_name().map(OsStr::to_os_string))
                    .collect(),
            ),
            Some(EntryType::Dir) => self
                .handle
                .open_dir(OsStr::new(&listed), false)
                .and_then(|d| d.list())
                .ok()
                .map(|entries| entries.into_iter().map(|(name, _)| name).collect()),
            Some(EntryType::Symlink) => {
                std::fs::read_dir(&listing).ok().map(|entries| entries.flatten().map(|e| e.file_name()).collect())
            }
            _ => None,
        };
        if let Some(entries) = entries {
            let mut found: Vec<(String, PathBuf)> = entries
                .into_iter()
                .filter(|n| !n.as_bytes().starts_with(b"."))
                .map(|n| (n.to_string_lossy().into_owned(), listing.join(&n)))
                .collect();
            found.sort();
            return Some(found);
        }
        let file = self.dir.join(list);
        self.text(list).map(|t| names_in(&t).into_iter().map(|n| (n, file.clone())).collect())
    }
}

/// Reads the files of one directory of a longrun's definition (`entries`, sorted) and of its
/// subdirectories; `known`: the `type` file, read already.
fn walk(dir: &sys::Dir, entries: &[(OsString, EntryType)], prefix: &Path, files: &mut Vec<File>, known: Option<File>) {
    let mut known = known;
    for (name, kind) in entries {
        let path = prefix.join(name);
        if let Some(file) = known.take_if(|f| f.path == path) {
            files.push(file);
            continue;
        }
        if *kind != EntryType::Dir {
            files.push(read_entry(dir, name, *kind, path));
            continue;
        }
        match dir.open_dir(name, false) {
            Ok(sub) => {
                let mode = sub.mode().or_else(|_| dir.mode_of(name)).unwrap_or(0);
                files.push(File { path: path.clone(), mode, content: Content::Dir });
                let mut inside = sub.list().unwrap_or_default();
                inside.sort_by(|a, b| a.0.cmp(&b.0));
                walk(&sub, &inside, &path, files, None);
            }
            Err(_) => {
                let mode = dir.mode_of(name).unwrap_or(0);
                files.push(File { path, mode, content: Content::Dir });
            }
        }
    }
}

/// One entry of a directory that is not a directory, or a directory left unread.
fn read_entry(dir: &sys::Dir, name: &OsStr, kind: EntryType, path: PathBuf) -> File {
    const LINK_MODE: u32 = libc::S_IFLNK | 0o777;
    match kind {
        // A link at the top is read through (by its path, `File::bytes`), so what it leads to
        // is held to the same limit: one stat, for links only.
        EntryType::Symlink => {
            let at_top = path.parent() == Some(Path::new(""));
            let led_to = if at_top { dir.followed(name) } else { None };
            let content = match led_to
                .filter(|(mode, size)| EntryType::of_mode(*mode) == EntryType::File && *size > DEFINITION_FILE_LIMIT)
            {
                Some((_, size)) => Content::TooLarge(size),
                None => Content::Symlink(dir.read_link(name).unwrap_or_default(), led_to.map(|(mode, _)| mode)),
            };
            File { path, mode: LINK_MODE, content }
        }
        EntryType::File => match dir.read(name) {
            Ok((mode, sys::Contents::Bytes(bytes))) => File { path, mode, content: Content::Bytes(bytes) },
            Ok((mode, sys::Contents::TooLarge(size))) => File { path, mode, content: Content::TooLarge(size) },
            Err(_) => File { path, mode: dir.mode_of(name).unwrap_or(0), content: Content::Other },
        },
        EntryType::Dir => File { path, mode: dir.mode_of(name).unwrap_or(0), content: Content::Dir },
        EntryType::Other => File { path, mode: dir.mode_of(name).unwrap_or(0), content: Content::Other },
    }
}

/// FNV-1a, continued from `hash` over `bytes`.
pub fn extend_fingerprint(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x100000001b3);
    }
    hash
}

/// FNV-1a over every path, mode and content of a definition (in order): equal definitions
/// have equal fingerprints, and any edit — of a file, a mode, a link's target, anywhere below
/// the directory — changes it.
pub fn fingerprint(files: &[File]) -> u64 {
    let mut hash: u64 = 0xcbf29ce484222325;
    let mut feed = |bytes: &[u8]| hash = extend_fingerprint(hash, bytes);
    // Lengths first, so that no two different lists feed the same bytes.
    let mut field = |bytes: &[u8]| {
        feed(&(bytes.len() as u64).to_le_bytes());
        feed(bytes);
    };
    for file in files {
        field(file.path.as_os_str().as_bytes());
        field(&file.mode.to_le_bytes());
        match &file.content {
            Content::Dir => field(b"d"),
            Content::Symlink(target, _) => field(target.as_os_str().as_bytes()),
            Content::Bytes(bytes) => field(bytes),
            Content::Other => field(b"?"),
            Content::TooLarge(size) => field(&size.to_le_bytes()),
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn scratch(name: &str) -> PathBuf {
        crate::testing::scratch(&format!("source-{name}"))
    }

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn print_of(defs: &Path, name: &str) -> u64 {
        read_all(defs).unwrap()[name].fingerprint
    }

    #[test]
    fn the_fingerprint_follows_every_file_mode_and_link_below_the_definition() {
        let defs = scratch("fingerprint");
        let a = defs.join("a");
        write(&a.join("type"), "longrun\n");
        write(&a.join("run"), "#!/bin/sh\nexec sleep 100\n");
        chmod(&a.join("run"), 0o755);
        write(&a.join("data/deep/conf"), "x = 1\n");
        std::os::unix::fs::symlink("/bin/true", a.join("finish")).unwrap();
        let first = print_of(&defs, "a");
        assert_ne!(first, 0);
        assert_eq!(print_of(&defs, "a"), first, "reading twice changes nothing");

        // What changes, how, and how to undo it.
        type Edit<'a> = (&'a str, &'a dyn Fn(), &'a dyn Fn());
        let edits: [Edit; 5] = [
            ("a file deep down", &|| write(&a.join("data/deep/conf"), "x = 2\n"), &|| {
                write(&a.join("data/deep/conf"), "x = 1\n")
            }),
            ("a mode", &|| chmod(&a.join("run"), 0o700), &|| chmod(&a.join("run"), 0o755)),
            (
                "a link's target",
                &|| {
                    std::fs::remove_file(a.join("finish")).unwrap();
                    std::os::unix::fs::symlink("/bin/false", a.join("finish")).unwrap();
                },
                &|| {
                    std::fs::remove_file(a.join("finish")).unwrap();
                    std::os::unix::fs::symlink("/bin/true", a.join("finish")).unwrap();
                },
            ),
            ("a new empty file in a subdirectory", &|| write(&a.join("data/deep/new"), ""), &|| {
                std::fs::remove_file(a.join("data/deep/new")).unwrap()
            }),
            ("a subdirectory's mode", &|| chmod(&a.join("data"), 0o700), &|| chmod(&a.join("data"), 0o755)),
        ];
        for (what, edit, undo) in edits {
            edit();
            assert_ne!(print_of(&defs, "a"), first, "{what} changed and the fingerprint did not");
            undo();
            assert_eq!(print_of(&defs, "a"), first, "{what} undone: the fingerprint is the first one again");
        }

        // Equal definitions have equal fingerprints, wherever they are.
        let copy = defs.join("b");
        std::fs::create_dir_all(copy.join("data/deep")).unwrap();
        for file in ["type", "run", "data/deep/conf"] {
            std::fs::copy(a.join(file), copy.join(file)).unwrap();
        }
        chmod(&copy.join("data"), 0o755);
        chmod(&copy.join("data/deep"), std::fs::metadata(a.join("data/deep")).unwrap().permissions().mode());
        std::os::unix::fs::symlink("/bin/true", copy.join("finish")).unwrap();
        assert_eq!(print_of(&defs, "b"), first);
        std::fs::remove_dir_all(&defs).unwrap();
    }

    #[test]
    fn reads_only_what_the_listing_shows_as_the_paths_would_read() {
        let defs = scratch("fields");
        let web = defs.join("web");
        write(&web.join("type"), "longrun\n");
        write(&web.join("run"), "#!/bin/sh\n");
        write(&web.join("dependencies.d/db"), "");
        write(&web.join("dependencies.d/.hidden"), "");
        write(&web.join("timeout-up"), " 250\n");
        write(&web.join("flag-essential"), "");
        write(&web.join("log"), "/var/log/web\n");
        write(&web.join("producer-for"), "\n");
        let db = defs.join("db");
        write(&db.join("type"), "oneshot\n");
        write(&db.join("up"), "true\n");
        write(&db.join("dependencies"), "# legacy list\nbase\n\n  other\n\tbase\n  # indented comment\nlast ");
        write(&db.join("timeout-down"), "10");
        let default = defs.join("default");
        write(&default.join("type"), "bundle\n");
        write(&default.join("contents.d/web"), "");
        write(&default.join("contents.d/db"), "");
        let logged = defs.join("logged");
        write(&logged.join("type"), "longrun\n");
        write(&logged.join("log/run"), "#!/bin/sh\n");
        std::os::unix::fs::symlink(&web, defs.join("alias")).unwrap();
        std::os::unix::fs::symlink("nowhere", defs.join("dangling")).unwrap();
        write(&defs.join("plain-file"), "");
        write(&defs.join(".hidden/type"), "longrun\n");

        let all = read_all(&defs).unwrap();
        assert_eq!(all.keys().collect::<Vec<_>>(), ["alias", "db", "default", "logged", "web"]);
        let raw = &all["web"];
        assert_eq!(raw.kind, Some("longrun"));
        assert_eq!(raw.dependencies, [("db".to_string(), web.join("dependencies.d/db"))]);
        assert_eq!(raw.timeout_up.as_deref(), Some(" 250\n"), "read as it is, checked by the model");
        assert_eq!(raw.timeout_down, None);
        assert!(raw.essential);
        assert_eq!(raw.log.as_deref(), Some("/var/log/web"));
        assert_eq!(raw.producer_for, None, "an empty producer-for names nothing");
        assert_eq!(
            raw.malformed,
            [("producer-for", "must hold exactly one name, and holds none; write one".to_string())]
        );
        assert_eq!(raw.text("run").as_deref(), Some("#!/bin/sh\n"));
        assert_eq!(raw.file("run").unwrap().mode & 0o777, 0o644);
        assert_eq!(all["alias"].fingerprint, raw.fingerprint, "a linked definition reads as its target");

        let raw = &all["db"];
        let legacy = db.join("dependencies");
        let names: Vec<&str> = raw.dependencies.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["base", "other", "last "], "leading blanks go, trailing ones stay (s6-rc's reading)");
        assert!(raw.dependencies.iter().all(|(_, file)| *file == legacy));
        assert_eq!(raw.timeout_down.as_deref(), Some("10"));
        assert!(!raw.essential && raw.log.is_none());
        assert_eq!((raw.fingerprint, raw.files.len()), (0, 0), "only longruns are read whole");

        let raw = &all["default"];
        let names: Vec<&str> = raw.contents.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["db", "web"]);
        assert_eq!((raw.fingerprint, raw.files.len()), (0, 0));

        assert_eq!(all["logged"].log, None, "a log directory is a logger, not a companion");
        std::fs::remove_dir_all(&defs).unwrap();
    }
}

//! Environment directories, s6-envdir's format: a file per variable, named after it. An empty
//! file removes the variable; otherwise its value is the file's first line with trailing spaces
//! and tabs removed, NUL bytes turned into newlines (`verbatim`: the whole file, less one final
//! newline; `no_chomp`: nothing removed but the line's end).

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

/// How the files are read (s6-envdir's `-f` and `-n`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Mode {
    /// The whole file rather than its first line.
    pub verbatim: bool,
    /// Keep trailing blanks (first line) or the final newline (verbatim).
    pub no_chomp: bool,
}

/// What the directory says: `(NAME, Some(value))` to set, `(NAME, None)` to remove, sorted by
/// name. Files whose names start with a dot or hold `=` are skipped, as s6-envdir does; so is
/// what is not a regular file. A file is read whole, so it may hold at most
/// [`MAX_ENVIRONMENT_FILE`] bytes, as an `environment-file` may: the supervisor reads these at
/// each start, and a huge (or sparse) file would otherwise be allocated whole in PID 1.
pub fn read(dir: &Path, mode: Mode) -> std::io::Result<Vec<(OsString, Option<OsString>)>> {
    use ostler_core::settings::{read_bytes, Unreadable};
    use std::io::{Error, ErrorKind};
    let mut changes = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.as_bytes().starts_with(b".") || name.as_bytes().contains(&b'=') {
            continue;
        }
        if !entry.file_type()?.is_file() && !entry.path().is_file() {
            continue;
        }
        let path = entry.path();
        let bytes = match read_bytes(&path, MAX_ENVIRONMENT_FILE) {
            Ok(Some(bytes)) => bytes,
            // Gone, or no longer a regular file, since the listing: as if it had not been there
            // (and bytes are never "not text").
            Ok(None) | Err(Unreadable::NotRegular | Unreadable::NotText) => continue,
            Err(Unreadable::Io(action, e)) => {
                return Err(Error::new(e.kind(), format!("unable to {action} {}: {e}", path.display())))
            }
            Err(Unreadable::TooLong) => {
                let message = format!(
                    "{}: longer than {MAX_ENVIRONMENT_FILE} bytes; a variable's value is far smaller (keep large data in a file and put its path in the variable)",
                    path.display()
                );
                return Err(Error::new(ErrorKind::InvalidData, message));
            }
        };
        changes.push((name, value(&bytes, mode).map(OsString::from_vec)));
    }
    changes.sort();
    Ok(changes)
}

/// A file's value; `None` for an empty file.
pub fn value(bytes: &[u8], mode: Mode) -> Option<Vec<u8>> {
    if bytes.is_empty() {
        return None;
    }
    let mut value = if mode.verbatim {
        let mut all = bytes.to_vec();
        if !mode.no_chomp && all.last() == Some(&b'\n') {
            all.pop();
        }
        all
    } else {
        let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
        let end = if mode.no_chomp {
            line.len()
        } else {
            line.iter().rposition(|&b| b != b' ' && b != b'\t').map_or(0, |at| at + 1)
        };
        line[..end].to_vec()
    };
    for byte in &mut value {
        if *byte == 0 {
            *byte = b'\n';
        }
    }
    Some(value)
}

/// The largest `environment-file` file read, and the largest file of an environment
/// directory: exec takes at most a few megabytes of arguments and environment together
/// (`ARG_MAX`).
pub const MAX_ENVIRONMENT_FILE: u64 = 1 << 20;

/// Reads systemd `EnvironmentFile=` files: `KEY=VALUE` lines, `#`/`;` comments, values in
/// single or double quotes; a name with a leading `-` may be missing.
pub fn read_environment_file(path: &Path) -> std::io::Result<Vec<(OsString, Option<OsString>)>> {
    use ostler_core::settings::{read_text, Unreadable};
    use std::io::{Error, ErrorKind};
    // Read as the settings are, never blocking and bounded: the supervisor reads these at each
    // start, in the scanner's loop, where a FIFO under the name (opened blocking, it waits for
    // a writer forever) or a huge file would stall every service.
    let text = match read_text(path, MAX_ENVIRONMENT_FILE) {
        Ok(Some(text)) => text,
        Ok(None) => return Err(ErrorKind::NotFound.into()),
        Err(Unreadable::Io(_, e)) => return Err(e),
        Err(Unreadable::NotRegular) => return Err(Error::new(ErrorKind::InvalidInput, "not a regular file")),
        Err(Unreadable::TooLong) => {
            let message = format!("longer than {MAX_ENVIRONMENT_FILE} bytes; an environment is far smaller");
            return Err(Error::new(ErrorKind::InvalidData, message));
        }
        Err(Unreadable::NotText) => return Err(Error::new(ErrorKind::InvalidData, "not text (UTF-8)")),
    };
    let mut changes = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else { continue };
        let value = value.trim();
        let value =
            ['"', '\''].iter().find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q))).unwrap_or(value);
        changes.push((OsString::from(key.trim()), Some(OsString::from(value))));
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_trimmed_nul_to_newline_empty_removes() {
        let plain = Mode::default();
        assert_eq!(value(b"abc  \t\nsecond\n", plain).unwrap(), b"abc");
        assert_eq!(value(b"a\0b\n", plain).unwrap(), b"a\nb");
        assert_eq!(value(b"", plain), None);
        assert_eq!(value(b"\n", plain).unwrap(), b"");
        let verbatim = Mode { verbatim: true, no_chomp: false };
        assert_eq!(value(b"one\ntwo\n", verbatim).unwrap(), b"one\ntwo");
        let keep = Mode { verbatim: false, no_chomp: true };
        assert_eq!(value(b"x  \n", keep).unwrap(), b"x  ");
    }

    #[test]
    fn an_environment_directory_file_is_bounded_as_an_environment_file_is() {
        let dir = std::env::temp_dir().join(format!("ostler-envdir-bound-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("SMALL"), "value\n").unwrap();
        let most = dir.join("MOST");
        std::fs::File::create(&most).unwrap().set_len(MAX_ENVIRONMENT_FILE).unwrap();
        let verbatim = Mode { verbatim: true, no_chomp: false };
        let read_all = read(&dir, verbatim).unwrap();
        assert_eq!(read_all[0].1.as_ref().map(|v| v.len() as u64), Some(MAX_ENVIRONMENT_FILE), "the bound is allowed");
        // Sparse: 4 TiB that cost nothing on disk, and would be allocated whole.
        let huge = dir.join("HUGE");
        std::fs::File::create(&huge).unwrap().set_len(1 << 42).unwrap();
        let error = read(&dir, Mode::default()).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
        let message = error.to_string();
        assert!(message.starts_with(&format!("{}: longer than 1048576 bytes;", huge.display())), "{message}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn environment_files_as_systemd_reads_them() {
        let dir = std::env::temp_dir().join(format!("ostler-envfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("defaults");
        std::fs::write(&file, "# comment\nA=1\nexport B=\"two words\"\n; x\nC='3'\nnot a line\n").unwrap();
        let read = read_environment_file(&file).unwrap();
        let got: Vec<(String, String)> = read
            .into_iter()
            .map(|(k, v)| (k.to_string_lossy().into_owned(), v.unwrap().to_string_lossy().into_owned()))
            .collect();
        assert_eq!(got, [("A".into(), "1".into()), ("B".into(), "two words".into()), ("C".into(), "3".into())]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

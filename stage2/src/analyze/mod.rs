//! `ostler analyze`: reads the boot timeline (`ostler_core::timeline`, written by the service
//! manager) and tells where the boot's time went: [`blame`] (slowest first), [`critical_chain`]
//! (what held a service up) and [`plot`] (an SVG boot chart).
//!
//! The three are pure functions from entries to text; [`load`] is the only part that reads a
//! file. Times are milliseconds since boot (CLOCK_BOOTTIME), as in the file.

mod blame;
mod chain;
mod plot;

pub use blame::blame;
pub use chain::{critical_chain, ChainError};
pub use plot::plot;

use ostler_core::timeline::Entry;
use std::path::{Path, PathBuf};

/// How many line numbers of skipped lines a warning lists; the rest are only counted.
const SKIPPED_LINES_LISTED: usize = 5;

/// A timeline read from a file: the entries, and the lines that were not entries.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timeline {
    /// Every service's entry; a service named twice keeps its last entry.
    pub entries: Vec<Entry>,
    /// Line numbers (from 1) of the non-empty lines that were not entries.
    pub skipped: Vec<usize>,
}

impl Timeline {
    /// Reads a timeline's text. A line that does not parse, or whose times are not finite
    /// numbers (`nan`, `inf` parse as floats), is skipped and its number kept.
    pub fn from_text(text: &str) -> Timeline {
        let mut skipped = Vec::new();
        let mut good = String::with_capacity(text.len());
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match Entry::parse(line) {
                Some(entry) if times_are_finite(&entry) => {
                    good.push_str(line);
                    good.push('\n');
                }
                _ => skipped.push(index + 1),
            }
        }
        // core's parse settles duplicates (the last entry of a name wins).
        Timeline { entries: ostler_core::timeline::parse(&good), skipped }
    }

    /// The warning about skipped lines, if any were (without the `ostler analyze: ` prefix).
    pub fn skipped_warning(&self, path: &Path) -> Option<String> {
        if self.skipped.is_empty() {
            return None;
        }
        let listed: Vec<String> = self.skipped.iter().take(SKIPPED_LINES_LISTED).map(usize::to_string).collect();
        let more = if self.skipped.len() > SKIPPED_LINES_LISTED { ", …" } else { "" };
        let count = self.skipped.len();
        let (lines, what) =
            if count == 1 { ("line", "not a timeline entry") } else { ("lines", "not timeline entries") };
        Some(format!(
            "skipped {count} {lines} of {}: {what} (line {}{more}); each line is NAME, KIND, ASKED, \
             STARTED, READY, RESULT, DEPENDENCIES separated by tabs (see docs/analyze.md)",
            path.display(),
            listed.join(", ")
        ))
    }
}

fn times_are_finite(entry: &Entry) -> bool {
    [Some(entry.asked), entry.started, entry.ready].into_iter().flatten().all(f64::is_finite)
}

/// Why a timeline could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file is missing or holds nothing.
    #[error(
        "no timeline at {}: the service manager writes it when it starts services \
         (ostler rc change, or stage 2 at boot)",
        path.display()
    )]
    Missing {
        /// The timeline's path.
        path: PathBuf,
    },
    /// The file holds lines, none of them an entry.
    #[error(
        "no service in the timeline at {}: none of its {lines} lines is an entry \
         (see docs/analyze.md for the format)",
        path.display()
    )]
    NoEntry {
        /// The timeline's path.
        path: PathBuf,
        /// How many non-empty lines it has.
        lines: usize,
    },
    /// The file exists but cannot be read.
    #[error("unable to read {}: {source}; check its permissions (it is root's, in /run/ostler)", path.display())]
    Unreadable {
        /// The timeline's path.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
}

/// Reads the timeline at `path`. Bytes that are not UTF-8 only spoil their own line.
pub fn load(path: &Path) -> Result<Timeline, LoadError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(LoadError::Missing { path: path.to_path_buf() })
        }
        Err(source) => return Err(LoadError::Unreadable { path: path.to_path_buf(), source }),
    };
    let timeline = Timeline::from_text(&String::from_utf8_lossy(&bytes));
    if timeline.entries.is_empty() {
        if timeline.skipped.is_empty() {
            return Err(LoadError::Missing { path: path.to_path_buf() });
        }
        return Err(LoadError::NoEntry { path: path.to_path_buf(), lines: timeline.skipped.len() });
    }
    Ok(timeline)
}

/// How a service's start ended, from the RESULT field.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Outcome<'a> {
    /// `ok`.
    Ok,
    /// `failed`, with the reason after it (`exit 3`; empty when none was given).
    Failed(&'a str),
    /// `timeout`: not ready in time.
    Timeout,
    /// `skipped`: a dependency failed, so it was never started.
    Skipped,
    /// Anything else, as written (a newer service manager's word).
    Other(&'a str),
}

impl<'a> Outcome<'a> {
    fn of(entry: &'a Entry) -> Outcome<'a> {
        let result = entry.result.trim();
        match result {
            "ok" => Outcome::Ok,
            "failed" => Outcome::Failed(""),
            "timeout" => Outcome::Timeout,
            "skipped" => Outcome::Skipped,
            _ => match result.strip_prefix("failed ") {
                Some(reason) => Outcome::Failed(reason.trim()),
                None => Outcome::Other(result),
            },
        }
    }

    /// Failed or timed out: drawn red, listed as such.
    fn is_failure(self) -> bool {
        matches!(self, Outcome::Failed(_) | Outcome::Timeout)
    }
}

/// From started to ready, when the service got that far (never negative, whatever the clock
/// did).
fn start_to_ready(entry: &Entry) -> Option<f64> {
    Some((entry.ready? - entry.started?).max(0.0))
}

/// The entry named `name`.
fn find<'a>(entries: &'a [Entry], name: &str) -> Option<&'a Entry> {
    entries.iter().find(|e| e.name == name)
}

/// The dependencies of `entry` that did not end well (why it was skipped).
fn unwell_dependencies<'a>(entries: &'a [Entry], entry: &Entry) -> Vec<&'a str> {
    entry
        .dependencies
        .iter()
        .filter_map(|d| find(entries, d))
        .filter(|d| Outcome::of(d) != Outcome::Ok)
        .map(|d| d.name.as_str())
        .collect()
}

/// A duration (or a time since boot) for people: `250us`, `12ms`, `1.234s`, `2min 3.456s`.
pub fn human(ms: f64) -> String {
    // Whole microseconds, the timeline's precision; `as` saturates (and maps NaN to 0).
    let us = (ms.max(0.0) * 1000.0).round() as u64;
    if us < 1000 {
        return format!("{us}us");
    }
    let ms = us.saturating_add(500) / 1000;
    match ms {
        0..=999 => format!("{ms}ms"),
        1000..=59_999 => format!("{}.{:03}s", ms / 1000, ms % 1000),
        _ => format!("{}min {}.{:03}s", ms / 60_000, ms % 60_000 / 1000, ms % 1000),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An entry; `deps` comma-separated, "" for none.
    pub fn entry(name: &str, asked: f64, started: Option<f64>, ready: Option<f64>, result: &str, deps: &str) -> Entry {
        Entry {
            name: name.into(),
            kind: "longrun".into(),
            asked,
            started,
            ready,
            result: result.into(),
            dependencies: deps.split(',').filter(|d| !d.is_empty()).map(str::to_string).collect(),
        }
    }

    /// The diamond a → {b, c} → d, c slower than b; e failed (after a), f skipped (needs e).
    pub fn diamond() -> Vec<Entry> {
        vec![
            entry("a", 100.0, Some(100.0), Some(110.0), "ok", ""),
            entry("b", 100.0, Some(110.0), Some(130.0), "ok", "a"),
            entry("c", 100.0, Some(110.0), Some(210.0), "ok", "a"),
            entry("d", 100.0, Some(210.0), Some(215.5), "ok", "b,c"),
            entry("e", 100.0, Some(110.0), None, "failed exit 3", "a"),
            entry("f", 100.0, None, None, "skipped", "e"),
        ]
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(0.25), "250us");
        assert_eq!(human(0.0), "0us");
        assert_eq!(human(-3.0), "0us");
        assert_eq!(human(f64::NAN), "0us");
        assert_eq!(human(12.4), "12ms");
        assert_eq!(human(999.6), "1.000s");
        assert_eq!(human(1234.0), "1.234s");
        assert_eq!(human(123_456.0), "2min 3.456s");
        assert_eq!(human(1e300), human(f64::MAX));
    }

    #[test]
    fn outcomes() {
        let of = |r: &str| format!("{:?}", Outcome::of(&entry("x", 0.0, None, None, r, "")));
        assert_eq!(of("ok"), "Ok");
        assert_eq!(of("failed exit 3"), r#"Failed("exit 3")"#);
        assert_eq!(of("failed"), r#"Failed("")"#);
        assert_eq!(of("timeout"), "Timeout");
        assert_eq!(of("skipped"), "Skipped");
        assert_eq!(of(" starting "), r#"Other("starting")"#);
    }

    #[test]
    fn bad_lines_are_counted_and_duplicates_keep_the_last() {
        let text = "a\tlongrun\t1\t2\t3\tok\t-\n\
                    \n\
                    garbage\n\
                    b\tlongrun\tnan\t2\t3\tok\t-\n\
                    c\tlongrun\t1\tinf\t3\tok\t-\n\
                    a\toneshot\t1\t2\t4\tok\t-\n";
        let timeline = Timeline::from_text(text);
        assert_eq!(timeline.skipped, vec![3, 4, 5]);
        assert_eq!(timeline.entries.len(), 1);
        assert_eq!(timeline.entries[0].ready, Some(4.0));
        let warning = timeline.skipped_warning(Path::new("/t")).unwrap();
        assert!(warning.starts_with("skipped 3 lines of /t: not timeline entries (line 3, 4, 5); "), "{warning}");
        assert_eq!(Timeline::from_text("a\tlongrun\t1\t2\t3\tok\t-").skipped_warning(Path::new("/t")), None);
    }

    #[test]
    fn many_skipped_lines_are_listed_briefly() {
        let timeline = Timeline::from_text(&"x\n".repeat(9));
        let warning = timeline.skipped_warning(Path::new("/t")).unwrap();
        assert!(warning.contains("skipped 9 lines") && warning.contains("(line 1, 2, 3, 4, 5, …)"), "{warning}");
    }

    #[test]
    fn load_tells_missing_empty_and_useless_files_apart() {
        let dir = std::env::temp_dir().join(format!("ostler-analyze-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing");
        let message = load(&missing).unwrap_err().to_string();
        assert_eq!(
            message,
            format!(
                "no timeline at {}: the service manager writes it when it starts services \
                 (ostler rc change, or stage 2 at boot)",
                missing.display()
            )
        );
        let empty = dir.join("empty");
        std::fs::write(&empty, "\n\n").unwrap();
        assert!(matches!(load(&empty), Err(LoadError::Missing { .. })));
        let useless = dir.join("useless");
        std::fs::write(&useless, "one\ntwo\n").unwrap();
        assert!(matches!(load(&useless), Err(LoadError::NoEntry { lines: 2, .. })));
        let good = dir.join("good");
        std::fs::write(&good, b"a\tlongrun\t1\t2\t3\tok\t-\n\xff\xfe\n").unwrap();
        let timeline = load(&good).unwrap();
        assert_eq!((timeline.entries.len(), timeline.skipped.clone()), (1, vec![2]));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

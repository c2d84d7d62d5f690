//! The logging script, parsed once: s6-log's directive language (see docs/log.md).
//!
//! Settings directives (`n s S l r E ^ p ! ?`) stick until changed and are resolved here into
//! each action that follows them, `t` and `T` into the next action only, so that the logger
//! walks a flat list of [`Step`]s per line. Parsing is pure: no file is touched.

use crate::error::ScriptError;
use crate::regex::Regex;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

/// The smallest and largest rotation size (`s`); s6-log clamps to these.
pub const SIZE_MIN: u32 = 4096;
/// See [`SIZE_MIN`].
pub const SIZE_MAX: u32 = 268_435_455;

/// A parsed script.
#[derive(Debug)]
pub struct Script {
    /// What to do with each line, in order.
    pub steps: Vec<Step>,
    /// The logdirs that `Target::Logdir` indexes.
    pub logdirs: Vec<LogdirSpec>,
    /// The status files that `Target::Status` indexes.
    pub status_files: Vec<StatusSpec>,
}

/// One step of the per-line walk.
#[derive(Debug)]
pub enum Step {
    /// `+re`: select the line if it is not selected and matches.
    Select(Regex),
    /// `-re`: deselect the line if it is selected and matches.
    Deselect(Regex),
    /// `f`: select exactly the lines no action has taken yet.
    SelectFresh,
    /// An action, done if the line is selected.
    Act(Action),
}

/// Where a selected line goes, and how it is dressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// The destination.
    pub target: Target,
    /// `t`: a TAI64N label first.
    pub tai: bool,
    /// `T`: local time after it.
    pub local: bool,
    /// `pSTR`: `STR ` before the line (empty: none).
    pub prefix: Vec<u8>,
}

/// An action's destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A logdir, by index in [`Script::logdirs`].
    Logdir(usize),
    /// `1`: the line on standard output.
    Stdout,
    /// `2`: an alert on standard error, the line cut after `max` bytes (`E`, 0 = whole).
    Stderr {
        /// The `E` setting in force.
        max: u32,
    },
    /// `=file`: by index in [`Script::status_files`].
    Status(usize),
}

/// A logdir and the settings in force where it appears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogdirSpec {
    /// As written (relative to the logger's working directory, or absolute).
    pub path: PathBuf,
    /// `n s S l r`.
    pub rotation: Rotation,
    /// `!` or `?`, when set.
    pub processor: Option<Processor>,
}

/// Rotation settings of a logdir.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// `n`: archives kept.
    pub keep: u32,
    /// `s`: size of `current` that triggers a rotation.
    pub size: u32,
    /// `S`: most bytes all archives may take together (0: no limit).
    pub total: u32,
    /// `l`: rotate once `current` is within this many bytes of `size`.
    pub tolerance: u32,
    /// `r`: milliseconds before retrying a failed write, rotation step or processor.
    pub retry_ms: u32,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation { keep: 10, size: 99999, total: 0, tolerance: 2000, retry_ms: 2000 }
    }
}

impl Rotation {
    /// The size of `current` at which a rotation is due.
    pub fn threshold(&self) -> u64 {
        u64::from(self.size.saturating_sub(self.tolerance))
    }
}

/// A processor run on each rotated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processor {
    /// How to run it.
    pub kind: ProcessorKind,
    /// The command text.
    pub command: OsString,
}

/// `!` or `?`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessorKind {
    /// `!cmd`: `execlineb -Pc cmd`.
    Execline,
    /// `?cmd`: `/bin/sh -c cmd`.
    Shell,
}

/// A status file and its size setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSpec {
    /// Where to write.
    pub path: PathBuf,
    /// `^`: pad with newlines or cut to this size (0: the line as is, with its newline).
    pub size: u32,
}

impl Script {
    /// Parses the directives, in order.
    pub fn parse<S: AsRef<OsStr>>(directives: &[S]) -> Result<Script, ScriptError> {
        let mut parser = Parser::default();
        for directive in directives {
            parser.directive(directive.as_ref().as_bytes())?;
        }
        if !parser.steps.iter().any(|step| matches!(step, Step::Act(_))) {
            return Err(ScriptError::NoAction);
        }
        Ok(Script { steps: parser.steps, logdirs: parser.logdirs, status_files: parser.status_files })
    }

    /// Whether any action wants a TAI64N label.
    pub fn uses_tai(&self) -> bool {
        self.actions().any(|action| action.tai)
    }

    /// Whether any action wants local time.
    pub fn uses_local(&self) -> bool {
        self.actions().any(|action| action.local)
    }

    fn actions(&self) -> impl Iterator<Item = &Action> {
        self.steps.iter().filter_map(|step| match step {
            Step::Act(action) => Some(action),
            _ => None,
        })
    }
}

/// The settings in force while reading the script.
#[derive(Default)]
struct Parser {
    steps: Vec<Step>,
    logdirs: Vec<LogdirSpec>,
    status_files: Vec<StatusSpec>,
    rotation: Rotation,
    processor: Option<Processor>,
    prefix: Vec<u8>,
    alert_max: Option<u32>,
    status_size: Option<u32>,
    tai: bool,
    local: bool,
}

impl Parser {
    fn directive(&mut self, directive: &[u8]) -> Result<(), ScriptError> {
        let text = || String::from_utf8_lossy(directive).into_owned();
        let bad = |problem: &str| ScriptError::Bad { directive: text(), problem: problem.to_string() };
        let Some((&first, rest)) = directive.split_first() else {
            return Err(ScriptError::Unrecognized(String::new()));
        };
        let number = |what: &str| {
            parse_u32(rest).ok_or_else(|| bad(&format!("{} takes {what}, such as {}", first as char, example(first))))
        };
        match first {
            b'+' | b'-' => {
                let regex = Regex::new(rest).map_err(|e| bad(&format!("bad regular expression: {e}")))?;
                self.steps.push(if first == b'+' { Step::Select(regex) } else { Step::Deselect(regex) });
            }
            b'f' | b't' | b'T' | b'1' | b'2' if !rest.is_empty() => {
                return Err(bad(&format!(
                    "{} stands alone: write \"{}\" and the next directive separately",
                    first as char, first as char
                )));
            }
            b'f' => self.steps.push(Step::SelectFresh),
            b't' => self.tai = true,
            b'T' => self.local = true,
            b'1' => self.act(Target::Stdout),
            b'2' => {
                let max = self.alert_max.unwrap_or(200);
                self.act(Target::Stderr { max });
            }
            b'n' => self.rotation.keep = number("the number of archives to keep")?,
            b's' => {
                self.rotation.size = number("the size of current that triggers a rotation")?.clamp(SIZE_MIN, SIZE_MAX)
            }
            b'S' => self.rotation.total = number("the most bytes the archives may take (0: no limit)")?,
            b'r' => self.rotation.retry_ms = number("the milliseconds to wait before a retry")?,
            b'E' => self.alert_max = Some(number("the most bytes of a line an alert shows (0: all)")?),
            b'^' => self.status_size = Some(number("the size of the status file (0: the line as is)")?),
            b'l' => {
                let tolerance = number("the tolerance before the rotation size")?;
                if tolerance > self.rotation.size / 2 {
                    return Err(bad(&format!(
                        "the tolerance may be at most half the rotation size in force (s{}: at most l{})",
                        self.rotation.size,
                        self.rotation.size / 2
                    )));
                }
                self.rotation.tolerance = tolerance;
            }
            b'p' => {
                self.prefix = rest.to_vec();
                if !rest.is_empty() {
                    self.prefix.push(b' ');
                }
            }
            b'!' | b'?' => {
                let kind = if first == b'!' { ProcessorKind::Execline } else { ProcessorKind::Shell };
                self.processor =
                    (!rest.is_empty()).then(|| Processor { kind, command: OsString::from_vec(rest.to_vec()) });
            }
            b'=' => {
                if rest.is_empty() {
                    return Err(bad("= needs a file name, such as =/run/myservice/status"));
                }
                let size = self.status_size.unwrap_or(1001);
                self.status_files.push(StatusSpec { path: PathBuf::from(OsStr::from_bytes(rest)), size });
                self.act(Target::Status(self.status_files.len() - 1));
            }
            b'/' | b'.' => {
                let path = PathBuf::from(OsStr::from_bytes(directive));
                self.logdirs.push(LogdirSpec { path, rotation: self.rotation, processor: self.processor.clone() });
                self.act(Target::Logdir(self.logdirs.len() - 1));
            }
            _ => return Err(ScriptError::Unrecognized(text())),
        }
        Ok(())
    }

    fn act(&mut self, target: Target) {
        let action = Action { target, tai: self.tai, local: self.local, prefix: self.prefix.clone() };
        self.tai = false;
        self.local = false;
        self.steps.push(Step::Act(action));
    }
}

/// A directive's example, for error messages.
fn example(letter: u8) -> &'static str {
    match letter {
        b'n' => "n20",
        b's' => "s1000000",
        b'S' => "S10000000",
        b'l' => "l2000",
        b'r' => "r2000",
        b'E' => "E400",
        _ => "^1001",
    }
}

/// A decimal number that fits in 32 bits, digits only.
fn parse_u32(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(script: &[&str]) -> Result<Script, ScriptError> {
        Script::parse(script)
    }

    fn message(script: &[&str]) -> String {
        parse(script).unwrap_err().to_string()
    }

    #[test]
    fn settings_stick_and_stamps_do_not() {
        let script = parse(&["n3", "s5000", "l100", "!gzip", "pfoo", "t", "T", "./a", "n4", "p", "./b", "1"]).unwrap();
        assert_eq!(script.logdirs.len(), 2);
        let a = &script.logdirs[0];
        assert_eq!(a.rotation, Rotation { keep: 3, size: 5000, total: 0, tolerance: 100, retry_ms: 2000 });
        assert_eq!(a.processor.as_ref().unwrap().kind, ProcessorKind::Execline);
        assert_eq!(script.logdirs[1].rotation.keep, 4);
        assert_eq!(script.logdirs[1].processor, a.processor);
        let actions: Vec<&Action> = script.actions().collect();
        assert_eq!(actions[0], &Action { target: Target::Logdir(0), tai: true, local: true, prefix: b"foo ".to_vec() });
        assert_eq!(actions[1], &Action { target: Target::Logdir(1), tai: false, local: false, prefix: vec![] });
        assert_eq!(actions[2].target, Target::Stdout);
        assert!(script.uses_tai() && script.uses_local());
    }

    #[test]
    fn defaults_match_s6_log() {
        let script = parse(&["./d", "2", "=st"]).unwrap();
        assert_eq!(script.logdirs[0].rotation, Rotation::default());
        assert_eq!(script.logdirs[0].rotation.threshold(), 97999);
        assert!(matches!(script.steps[1], Step::Act(Action { target: Target::Stderr { max: 200 }, .. })));
        assert_eq!(script.status_files[0], StatusSpec { path: "st".into(), size: 1001 });
    }

    #[test]
    fn sizes_are_clamped_and_tolerance_checked() {
        assert_eq!(parse(&["s100", "./d"]).unwrap().logdirs[0].rotation.size, SIZE_MIN);
        assert_eq!(parse(&["s300000000", "./d"]).unwrap().logdirs[0].rotation.size, SIZE_MAX);
        assert!(parse(&["s4096", "l2048", "./d"]).is_ok());
        let error = message(&["s4096", "l2049", "./d"]);
        assert!(error.contains("\"l2049\"") && error.contains("at most l2048"), "{error}");
    }

    #[test]
    fn selections_and_processors() {
        let script = parse(&["-foo", "+bar", "f", "?", "!", "./d"]).unwrap();
        assert!(matches!(&script.steps[0], Step::Deselect(r) if r.pattern() == "foo"));
        assert!(matches!(&script.steps[1], Step::Select(r) if r.pattern() == "bar"));
        assert!(matches!(script.steps[2], Step::SelectFresh));
        assert_eq!(script.logdirs[0].processor, None, "an empty ! clears the processor");
        let shell = parse(&["?gzip -c", "/abs"]).unwrap();
        assert_eq!(shell.logdirs[0].processor.as_ref().unwrap().kind, ProcessorKind::Shell);
        assert_eq!(shell.logdirs[0].path, PathBuf::from("/abs"));
    }

    #[test]
    fn errors_name_the_directive() {
        assert_eq!(message(&["x3", "./d"]), "unrecognized directive \"x3\": see ostler log --help");
        assert_eq!(message(&["", "./d"]), "unrecognized directive \"\": see ostler log --help");
        for (bad, wanted) in [
            ("nabc", "\"nabc\": n takes the number of archives to keep, such as n20"),
            ("n-1", "\"n-1\""),
            ("s", "\"s\""),
            ("s99999999999", "\"s99999999999\""),
            ("tt", "\"tt\": t stands alone"),
            ("1x", "\"1x\""),
            ("fx", "\"fx\""),
            ("=", "\"=\": = needs a file name"),
            ("+(", "\"+(\": bad regular expression"),
        ] {
            let error = message(&[bad, "./d"]);
            assert!(error.contains(wanted), "{bad}: {error}");
        }
        assert!(message(&["n3", "t"]).starts_with("no action directive"));
    }

    #[test]
    fn prefix_and_status_size() {
        let script = parse(&["pa b", "^0", "=x", "^5", "=y", "E0", "2"]).unwrap();
        assert_eq!(script.status_files[0].size, 0);
        assert_eq!(script.status_files[1].size, 5);
        let actions: Vec<&Action> = script.actions().collect();
        assert_eq!(actions[0].prefix, b"a b ");
        assert_eq!(actions[2].target, Target::Stderr { max: 0 });
    }
}

//! `ostler svstat`: print the state of a supervised service (s6-svstat), byte for byte as
//! s6-svstat 2.11 does: either its human line, or chosen fields separated by spaces.

use super::exit;
use ostler_core::status::Death;
use ostler_core::{lock, signame, Status, Tain};
use std::path::{Path, PathBuf};

const PROGRAM: &str = "ostler svstat";

/// Most fields one call may print (s6-svstat's limit).
pub const MAX_FIELDS: usize = 16;

/// A field of the `-o` output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// `up`: `true` if run is alive and not finishing.
    Up,
    /// `wantedup`: `true` if the supervisor will restart the service when it dies.
    WantedUp,
    /// `normallyup`: `true` if there is no `down` file.
    NormallyUp,
    /// `ready`: `true` if up and notified ready.
    Ready,
    /// `paused`: `true` if stopped by `svc -p`.
    Paused,
    /// `pid`: run's pid, or -1 when down.
    Pid,
    /// `exitcode`: the last exit code, or -1 when up or killed by a signal.
    ExitCode,
    /// `signal`: the signal that killed it (`SIGTERM`), or `NA`.
    Signal,
    /// `signum`: that signal's number, or -1.
    SigNum,
    /// `updownsince`: TAI64N label of the last up/down transition.
    UpDownSince,
    /// `readysince`: TAI64N label of the last readiness (or finish done).
    ReadySince,
    /// `updownfor`: seconds since the last up/down transition.
    UpDownFor,
    /// `readyfor`: seconds since the last readiness.
    ReadyFor,
}

impl Field {
    /// Every field, as `-o` names them.
    pub const NAMES: [(&'static str, Field); 13] = [
        ("up", Field::Up),
        ("wantedup", Field::WantedUp),
        ("normallyup", Field::NormallyUp),
        ("ready", Field::Ready),
        ("paused", Field::Paused),
        ("pid", Field::Pid),
        ("exitcode", Field::ExitCode),
        ("signal", Field::Signal),
        ("signum", Field::SigNum),
        ("updownsince", Field::UpDownSince),
        ("readysince", Field::ReadySince),
        ("updownfor", Field::UpDownFor),
        ("readyfor", Field::ReadyFor),
    ];

    /// The field a shortcut flag stands for (`-u` is `up`…).
    pub fn from_shortcut(letter: char) -> Option<Field> {
        Some(match letter {
            'u' => Field::Up,
            'w' => Field::WantedUp,
            'N' => Field::NormallyUp,
            'r' => Field::Ready,
            'p' => Field::Pid,
            'e' => Field::ExitCode,
            's' => Field::Signal,
            't' => Field::UpDownFor,
            _ => return None,
        })
    }

    /// Parses `up,pid,…` (a trailing comma is allowed, as in s6; an empty list means none).
    pub fn parse_list(list: &str) -> Result<Vec<Field>, FieldError> {
        let mut fields = Vec::new();
        if list.is_empty() {
            return Ok(fields);
        }
        let list = list.strip_suffix(',').unwrap_or(list);
        for name in list.split(',') {
            if name.is_empty() {
                return Err(FieldError::Empty);
            }
            let field = Field::NAMES
                .iter()
                .find(|(known, _)| *known == name)
                .map(|(_, field)| *field)
                .ok_or_else(|| FieldError::Unknown(name.to_string()))?;
            fields.push(field);
        }
        Ok(fields)
    }
}

/// A bad `-o` list.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// `a,,b` or `,a`.
    #[error("invalid empty field in the -o list; separate field names with single commas")]
    Empty,
    /// A name we do not know.
    #[error(
        "invalid field {0:?} in the -o list; known fields: up wantedup normallyup ready paused pid exitcode \
         signal signum updownsince readysince updownfor readyfor"
    )]
    Unknown(String),
    /// More than [`MAX_FIELDS`].
    #[error("too many fields: at most 16 can be printed at once; split the query in two")]
    TooMany,
}

/// What to print, about which service.
#[derive(Clone, Debug)]
pub struct Options {
    /// The service directory.
    pub dir: PathBuf,
    /// The fields to print; empty means the human line.
    pub fields: Vec<Field>,
    /// Print the signal of the human line as a number (`-n`).
    pub numeric_signal: bool,
    /// Add the control group's process count and memory to the human line (`ostler svstat`,
    /// `service status`; not when ostler is invoked as `s6-svstat`, whose line stays s6's).
    pub group_usage: bool,
}

/// Why the status could not be printed.
#[derive(Debug, thiserror::Error)]
pub enum SvstatError {
    /// Nothing holds the supervisor's lock.
    #[error("unable to read status for {0}: supervisor not running; start ostler supervise or s6-supervise on it")]
    NotSupervised(PathBuf),
    /// The lock could not be tested.
    #[error("unable to check {dir}: {source}; give a service directory")]
    Check {
        /// The service directory.
        dir: PathBuf,
        /// The system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The status file could not be read.
    #[error("unable to read status for {dir}: {source}")]
    Read {
        /// The service directory.
        dir: PathBuf,
        /// The underlying failure.
        #[source]
        source: ostler_core::CoreError,
    },
}

impl SvstatError {
    /// 1 when the service is not supervised (as s6-svstat), 111 for system failures.
    pub fn exit_code(&self) -> u8 {
        match self {
            SvstatError::NotSupervised(_) => 1,
            SvstatError::Check { .. } | SvstatError::Read { .. } => exit::SYSTEM,
        }
    }
}

/// Runs svstat: prints one line on stdout; the result is the exit code.
pub fn run(options: &Options) -> u8 {
    match query(options) {
        Ok(line) => {
            println!("{line}");
            exit::OK
        }
        Err(e) => {
            eprintln!("{PROGRAM}: {e}");
            e.exit_code()
        }
    }
}

/// Reads the service's state and renders the line (without its newline).
pub fn query(options: &Options) -> Result<String, SvstatError> {
    let dir = &options.dir;
    let supervise = dir.join("supervise");
    match lock::path_is_locked(&supervise.join("lock")) {
        Ok(true) => {}
        Ok(false) => return Err(SvstatError::NotSupervised(dir.clone())),
        Err(source) => return Err(SvstatError::Check { dir: dir.clone(), source }),
    }
    let status = Status::read(&supervise).map_err(|source| SvstatError::Read { dir: dir.clone(), source })?;
    let view = View { status, normally_up: normally_up(dir), now: Tain::now() };
    if !options.fields.is_empty() {
        return Ok(view.fields(&options.fields));
    }
    let mut line = view.human(options.numeric_signal);
    if let Some(usage) = group_usage(options, &supervise, view.up()) {
        line.push_str(", ");
        line.push_str(&usage.text());
    }
    if view.up() {
        if let Some(text) = notify_status(&supervise) {
            line.push_str("; status: ");
            line.push_str(&text);
        }
    }
    Ok(line)
}

/// The last `STATUS=` of a `notify-socket` service (an ostler extension, so nothing is added
/// for any other service), its control characters shown as `?`.
fn notify_status(supervise: &Path) -> Option<String> {
    use crate::supervisor::notify::STATUS_FILE;
    let mut bytes = std::fs::read(supervise.join(STATUS_FILE)).ok().filter(|b| !b.is_empty())?;
    for byte in bytes.iter_mut().filter(|b| b.is_ascii_control()) {
        *byte = b'?';
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// What the service's control group holds (an ostler extension: nothing for a service
/// without a group): shown while up, and while down only if something of it is left.
fn group_usage(options: &Options, supervise: &Path, up: bool) -> Option<crate::cgroup::Usage> {
    if !options.group_usage {
        return None;
    }
    let dir = std::fs::read_to_string(supervise.join(crate::cgroup::GROUP_FILE)).ok()?;
    let usage = crate::cgroup::Usage::read(Path::new(dir.trim_end_matches('\n')))?;
    (up || usage.processes > 0).then_some(usage)
}

fn normally_up(dir: &Path) -> bool {
    std::fs::symlink_metadata(dir.join("down")).is_err()
}

/// A status seen at one moment: everything the output depends on.
#[derive(Clone, Copy, Debug)]
pub struct View {
    /// The status file's contents.
    pub status: Status,
    /// No `down` file in the service directory.
    pub normally_up: bool,
    /// The moment of the query.
    pub now: Tain,
}

impl View {
    fn up(&self) -> bool {
        self.status.is_up()
    }

    /// The signal that killed run, when down and killed.
    fn down_signal(&self) -> Option<i32> {
        match (self.up(), self.status.death()) {
            (false, Death::Signaled(signo)) => Some(signo),
            _ => None,
        }
    }

    /// s6-svstat's human line.
    pub fn human(&self, numeric_signal: bool) -> String {
        let s = &self.status;
        let up = self.up();
        let mut line = if up {
            format!("up (pid {})", s.pid)
        } else {
            match s.death() {
                Death::Signaled(signo) if numeric_signal => format!("down (signal {signo})"),
                Death::Signaled(signo) => format!("down (signal {})", signame::name(signo)),
                Death::Exited(code) => format!("down (exitcode {code})"),
            }
        };
        line.push_str(&format!(" {} seconds", s.stamp.seconds_until(self.now)));
        if up && !self.normally_up {
            line.push_str(", normally down");
        }
        if !up && self.normally_up {
            line.push_str(", normally up");
        }
        if up && s.paused {
            line.push_str(", paused");
        }
        if !up && s.want_up {
            line.push_str(", want up");
        }
        if up && !s.want_up {
            line.push_str(", want down");
        }
        if s.ready {
            line.push_str(&format!(", ready {} seconds", s.readystamp.seconds_until(self.now)));
        }
        line
    }

    /// The `-o` output: the fields' values separated by single spaces.
    pub fn fields(&self, fields: &[Field]) -> String {
        let values: Vec<String> = fields.iter().map(|f| self.value(*f)).collect();
        values.join(" ")
    }

    fn value(&self, field: Field) -> String {
        let s = &self.status;
        let up = self.up();
        match field {
            Field::Up => up.to_string(),
            Field::WantedUp => s.want_up.to_string(),
            Field::NormallyUp => self.normally_up.to_string(),
            Field::Ready => (up && s.ready).to_string(),
            Field::Paused => s.paused.to_string(),
            Field::Pid => {
                if up {
                    s.pid.to_string()
                } else {
                    "-1".into()
                }
            }
            Field::ExitCode => match (up, s.death()) {
                (false, Death::Exited(code)) => code.to_string(),
                _ => "-1".into(),
            },
            Field::Signal => self.down_signal().map_or_else(|| "NA".into(), signame::name),
            Field::SigNum => self.down_signal().map_or_else(|| "-1".into(), |n| n.to_string()),
            Field::UpDownSince => s.stamp.to_text(),
            Field::ReadySince => s.readystamp.to_text(),
            Field::UpDownFor => s.stamp.seconds_until(self.now).to_string(),
            Field::ReadyFor => s.readystamp.seconds_until(self.now).to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn view(pid: u64, wstat: u16, flags: u8, normally_up: bool) -> View {
        let mut bytes = hex("400000006b02cc972fb18368 400000006b02cc972f709d39 0000000000000000 0000 00");
        bytes[24..32].copy_from_slice(&pid.to_be_bytes());
        bytes[32..34].copy_from_slice(&wstat.to_be_bytes());
        bytes[34] = flags;
        let status = Status::unpack(&bytes).unwrap();
        View { status, normally_up, now: Tain { secs: status.stamp.secs + 2, nanos: status.stamp.nanos + 1 } }
    }

    #[test]
    fn the_facts_sheet_table() {
        // Times: stamp 2 s ago, readystamp 2 s ago as well (its nanos are smaller).
        let cases = [
            (view(0x29eb, 0, 0x04, true), "up (pid 10731) 2 seconds"),
            (view(0, 0, 0x08, false), "down (exitcode 0) 2 seconds, ready 2 seconds"),
            (view(0x29ed, 0, 0x0c, true), "up (pid 10733) 2 seconds, ready 2 seconds"),
            (view(0, 0x000f, 0x08, true), "down (signal SIGTERM) 2 seconds, normally up, ready 2 seconds"),
            (view(0, 0x0300, 0x0c, true), "down (exitcode 3) 2 seconds, normally up, want up, ready 2 seconds"),
            (view(77, 0, 0x06, true), "down (exitcode 0) 2 seconds, normally up, want up"),
            (view(14544, 0x000f, 0x05, true), "up (pid 14544) 2 seconds, paused"),
            (view(5, 0, 0x00, false), "up (pid 5) 2 seconds, normally down, want down"),
        ];
        for (view, line) in cases {
            assert_eq!(view.human(false), line);
        }
        assert_eq!(view(0, 0x000f, 0x08, true).human(true), "down (signal 15) 2 seconds, normally up, ready 2 seconds");
    }

    #[test]
    fn all_fields() {
        let all: Vec<Field> = Field::NAMES.iter().map(|(_, f)| *f).collect();
        assert_eq!(
            view(14544, 0x000f, 0x05, true).fields(&all),
            "true true true false true 14544 -1 NA -1 @400000006b02cc972fb18368 @400000006b02cc972f709d39 2 2"
        );
        assert_eq!(
            view(0, 0x000f, 0x08, true).fields(&all),
            "false false true false false -1 -1 SIGTERM 15 @400000006b02cc972fb18368 @400000006b02cc972f709d39 2 2"
        );
        assert_eq!(view(0, 0x0300, 0x0c, true).fields(&[Field::ExitCode, Field::Signal]), "3 NA");
    }

    #[test]
    fn the_notify_status_is_shown_with_control_characters_masked() {
        let dir = std::env::temp_dir().join(format!("ostler-svstat-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(notify_status(&dir), None);
        std::fs::write(dir.join("notify-status"), b"").unwrap();
        assert_eq!(notify_status(&dir), None, "an empty STATUS= shows nothing");
        std::fs::write(dir.join("notify-status"), b"Processing\x1b[31m requests\x7f...").unwrap();
        assert_eq!(notify_status(&dir).as_deref(), Some("Processing?[31m requests?..."));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn field_lists() {
        assert_eq!(Field::parse_list("pid,up"), Ok(vec![Field::Pid, Field::Up]));
        assert_eq!(Field::parse_list("pid,"), Ok(vec![Field::Pid]));
        assert_eq!(Field::parse_list(""), Ok(vec![]));
        assert_eq!(Field::parse_list(",pid"), Err(FieldError::Empty));
        assert_eq!(Field::parse_list("pid,,up"), Err(FieldError::Empty));
        assert_eq!(Field::parse_list("foo"), Err(FieldError::Unknown("foo".into())));
    }
}

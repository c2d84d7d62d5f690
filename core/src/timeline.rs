//! The boot timeline: for each service the service manager handled, when it was asked to start,
//! when it started, when it was up (ready), how it ended, and what it waited for. `ostler rc`
//! appends to it (`/run/ostler/timeline`); `ostler analyze` reads it.
//!
//! One line per service, tab-separated, times in milliseconds of CLOCK_BOOTTIME (the kernel's
//! clock since boot, the one `/proc/uptime` shows) with microsecond precision:
//!
//! ```text
//! NAME<TAB>KIND<TAB>ASKED<TAB>STARTED<TAB>READY<TAB>RESULT<TAB>DEPENDENCIES
//! ```
//!
//! KIND is `longrun` or `oneshot`; STARTED and READY are `-` when the service never got there;
//! RESULT is `ok`, `failed` (with a reason after a space: `failed exit 3`), `timeout` or
//! `skipped` (a dependency failed); DEPENDENCIES is a comma-separated list of the services it
//! waited for (`-` for none). Lines that do not parse are skipped by readers.

use std::fmt::Write as _;

/// One service's entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The service.
    pub name: String,
    /// `longrun` or `oneshot`.
    pub kind: String,
    /// When the service manager was asked to bring it up (ms since boot).
    pub asked: f64,
    /// When it started: its process spawned, or its `up` script run.
    pub started: Option<f64>,
    /// When it was up: ready (notification-fd), or started for a longrun without one, or its
    /// `up` exited 0.
    pub ready: Option<f64>,
    /// `ok`, `failed …`, `timeout` or `skipped`.
    pub result: String,
    /// The services it waited for.
    pub dependencies: Vec<String>,
}

impl Entry {
    /// The line, newline included.
    pub fn to_line(&self) -> String {
        let time = |t: Option<f64>| t.map_or_else(|| "-".to_string(), |t| format!("{t:.3}"));
        let deps = if self.dependencies.is_empty() { "-".to_string() } else { self.dependencies.join(",") };
        let mut line = String::new();
        let _ = writeln!(
            line,
            "{}\t{}\t{:.3}\t{}\t{}\t{}\t{}",
            self.name,
            self.kind,
            self.asked,
            time(self.started),
            time(self.ready),
            self.result,
            deps
        );
        line
    }

    /// Reads a line (without its newline); `None` when it is not one.
    pub fn parse(line: &str) -> Option<Entry> {
        let fields: Vec<&str> = line.split('\t').collect();
        let [name, kind, asked, started, ready, result, deps] = fields.as_slice() else { return None };
        let time = |t: &str| if t == "-" { Ok(None) } else { t.parse::<f64>().map(Some) };
        Some(Entry {
            name: name.to_string(),
            kind: kind.to_string(),
            asked: asked.parse().ok()?,
            started: time(started).ok()?,
            ready: time(ready).ok()?,
            result: result.to_string(),
            dependencies: if *deps == "-" { Vec::new() } else { deps.split(',').map(str::to_string).collect() },
        })
    }
}

/// Every entry of a timeline text; a service named twice keeps its last entry.
pub fn parse(text: &str) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
    for entry in text.lines().filter_map(Entry::parse) {
        entries.retain(|e| e.name != entry.name);
        entries.push(entry);
    }
    entries
}

/// Now, in milliseconds of CLOCK_BOOTTIME.
pub fn now_ms() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec as f64 * 1000.0 + ts.tv_nsec as f64 / 1_000_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip() {
        let entry = Entry {
            name: "web".into(),
            kind: "longrun".into(),
            asked: 1790.5,
            started: Some(1791.25),
            ready: None,
            result: "failed exit 3".into(),
            dependencies: vec!["db".into(), "net".into()],
        };
        let line = entry.to_line();
        assert_eq!(line, "web\tlongrun\t1790.500\t1791.250\t-\tfailed exit 3\tdb,net\n");
        assert_eq!(Entry::parse(line.trim_end()), Some(entry.clone()));
        let text = format!("garbage\n{line}web\toneshot\t1\t2\t3\tok\t-\n");
        let all = parse(&text);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].kind, "oneshot");
        assert!(all[0].dependencies.is_empty());
    }
}

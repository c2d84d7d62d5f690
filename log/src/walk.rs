//! The per-line walk through the script: selection, then each action's output, dressed with
//! the stamps and prefix it asks for, appended to the batch's buffers. No I/O here: the event
//! loop writes the buffers once per batch.

use crate::logdir::Logdir;
use crate::regex::CLine;
use crate::script::{Action, StatusSpec, Step, Target};

/// Where a batch's output collects.
#[derive(Debug, Default)]
pub struct Sinks {
    /// The logdirs (each holds its own batch buffer).
    pub logdirs: Vec<Logdir>,
    /// `1` output.
    pub stdout: Vec<u8>,
    /// `2` output.
    pub stderr: Vec<u8>,
    /// The status files and the content each should get at the end of the batch (the last
    /// line that reached it wins: a reader could not tell the lines before it apart anyway).
    pub status: Vec<(StatusSpec, Option<Vec<u8>>)>,
}

/// The stamps of the lines of one batch, as text with their separators.
#[derive(Debug, Default)]
pub struct Dress {
    /// `@…` and one space.
    pub tai: Vec<u8>,
    /// `YYYY-MM-DD HH:MM:SS.nnnnnnnnn` and two spaces.
    pub local: Vec<u8>,
}

/// What s6-log puts before an alert; ours names ostler.
pub const ALERT: &[u8] = b"ostler log: alert: ";

/// Runs the script over one line (without its terminator). Returns true when a logdir is
/// now due for rotation, which ends the batch after this line.
pub fn walk(steps: &[Step], sinks: &mut Sinks, dress: &Dress, line: &[u8], cline: &mut CLine) -> bool {
    let mut selected = true;
    let mut acted = false;
    let mut rotate = false;
    let mut prepared = false;
    for step in steps {
        match step {
            Step::Select(regex) | Step::Deselect(regex) => {
                let select = matches!(step, Step::Select(_));
                if selected != select {
                    if !prepared {
                        cline.set(line);
                        prepared = true;
                    }
                    // Lines hold no NUL (it ends them), so `get` always has a string.
                    if cline.get().is_some_and(|c| regex.is_match(c)) {
                        selected = select;
                    }
                }
            }
            Step::SelectFresh => selected = !acted,
            Step::Act(action) if selected => {
                acted = true;
                rotate |= act(action, sinks, dress, line);
            }
            Step::Act(_) => {}
        }
    }
    rotate
}

fn act(action: &Action, sinks: &mut Sinks, dress: &Dress, line: &[u8]) -> bool {
    let dressing = |out: &mut Vec<u8>| {
        if action.tai {
            out.extend_from_slice(&dress.tai);
        }
        if action.local {
            out.extend_from_slice(&dress.local);
        }
        out.extend_from_slice(&action.prefix);
    };
    match action.target {
        Target::Logdir(index) => {
            let Some(logdir) = sinks.logdirs.get_mut(index) else { return false };
            dressing(&mut logdir.out);
            logdir.out.extend_from_slice(line);
            logdir.out.push(b'\n');
            logdir.check_size()
        }
        Target::Stdout => {
            dressing(&mut sinks.stdout);
            sinks.stdout.extend_from_slice(line);
            sinks.stdout.push(b'\n');
            false
        }
        Target::Stderr { max } => {
            sinks.stderr.extend_from_slice(ALERT);
            dressing(&mut sinks.stderr);
            // Cut only when that saves something: s6-log keeps a line up to E + 3 bytes.
            let max = max as usize;
            if max > 0 && line.len() > max + 3 {
                sinks.stderr.extend_from_slice(&line[..max]);
                sinks.stderr.extend_from_slice(b"...");
            } else {
                sinks.stderr.extend_from_slice(line);
            }
            sinks.stderr.push(b'\n');
            false
        }
        Target::Status(index) => {
            let Some((spec, content)) = sinks.status.get_mut(index) else { return false };
            let out = content.get_or_insert_with(Vec::new);
            out.clear();
            dressing(out);
            out.extend_from_slice(line);
            let size = spec.size as usize;
            if size == 0 {
                out.push(b'\n');
            } else {
                out.resize(size, b'\n');
            }
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::Script;

    fn run(script: &[&str], lines: &[&str]) -> Sinks {
        let script = Script::parse(script).unwrap();
        let mut sinks =
            Sinks { status: script.status_files.iter().map(|s| (s.clone(), None)).collect(), ..Sinks::default() };
        let dress = Dress { tai: b"@T ".to_vec(), local: b"L  ".to_vec() };
        let mut cline = CLine::default();
        for line in lines {
            walk(&script.steps, &mut sinks, &dress, line.as_bytes(), &mut cline);
        }
        sinks
    }

    fn text(bytes: &[u8]) -> &str {
        std::str::from_utf8(bytes).unwrap()
    }

    #[test]
    fn selection_persists_across_actions() {
        let sinks = run(&["-foo", "1", "+foo", "2"], &["foo", "bar"]);
        assert_eq!(text(&sinks.stdout), "bar\n");
        assert_eq!(text(&sinks.stderr), "ostler log: alert: foo\nostler log: alert: bar\n");
        let sinks = run(&["-.*", "+foo", "1", "f", "2"], &["foo", "bar"]);
        assert_eq!(text(&sinks.stdout), "foo\n");
        assert_eq!(text(&sinks.stderr), "ostler log: alert: bar\n");
        let sinks = run(&["f", "1", "f", "2"], &["a"]);
        assert_eq!(text(&sinks.stdout), "a\n");
        assert!(sinks.stderr.is_empty());
    }

    #[test]
    fn stamps_then_prefix_and_alert_cut() {
        let sinks = run(&["p:x:", "T", "t", "1", "E10", "t", "2"], &["hello-world-long", "hello-world"]);
        assert_eq!(text(&sinks.stdout), "@T L  :x: hello-world-long\n@T L  :x: hello-world\n");
        assert_eq!(
            text(&sinks.stderr),
            "ostler log: alert: @T :x: hello-worl...\nostler log: alert: @T :x: hello-world\n"
        );
    }

    #[test]
    fn status_is_padded_or_cut() {
        let sinks = run(&["=a", "^0", "=b", "^5", "=c", "^20", "p:pre:", "=d"], &["one", "world"]);
        let content = |i: usize| sinks.status[i].1.clone().unwrap();
        assert_eq!(content(0).len(), 1001);
        assert!(content(0).starts_with(b"world\n\n"));
        assert_eq!(content(1), b"world\n");
        assert_eq!(content(2), b"world");
        assert_eq!(content(3), b":pre: world\n\n\n\n\n\n\n\n\n");
    }
}

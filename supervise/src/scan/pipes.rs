//! Named pipes the scanner holds between services that are not a service and its `log/`:
//! the longer pipelines and funnels of the service manager (s6-rc's `producer-for` /
//! `consumer-for`, which s6-rc serves with a separate fd-holder daemon).
//!
//! A service directory asks for them in a file, [`FILE`], one line each:
//!
//! ```text
//! stdin NAME     # fd 0 of run and finish is the read end of pipe NAME
//! stdout NAME    # fd 1 is its write end (it wins over a log/ pipe)
//! ```
//!
//! A pipe is made when the first service naming it is added and lives while any service
//! naming it is known to the scanner, so either side restarts without losing a byte.

use std::os::fd::OwnedFd;
use std::rc::Rc;

/// The file in a service directory that names its pipes.
pub const FILE: &str = "ostler-pipes";

/// One named pipe: its name, and both ends (held while a service naming it is known).
#[derive(Debug)]
pub struct Pipe {
    pub name: String,
    pub read: Rc<OwnedFd>,
    pub write: Rc<OwnedFd>,
}

/// What a service directory's [`FILE`] asks for: pipe names, read as they are written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Wanted {
    pub stdin: Option<String>,
    pub stdout: Option<String>,
}

impl Wanted {
    /// Parses the file. Returns what it asks for and a description of each line it could not
    /// use (the caller warns; the rest still applies).
    pub fn parse(text: &str) -> (Wanted, Vec<String>) {
        let mut wanted = Wanted::default();
        let mut problems = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.split_whitespace();
            let (side, name, rest) = (words.next(), words.next(), words.next());
            let slot = match side {
                Some("stdin") => &mut wanted.stdin,
                Some("stdout") => &mut wanted.stdout,
                _ => {
                    problems.push(format!("line {}: `{line}`: write `stdin NAME` or `stdout NAME`", number + 1));
                    continue;
                }
            };
            match (name, rest) {
                (Some(name), None) => *slot = Some(name.to_string()),
                _ => problems.push(format!("line {}: `{line}`: give exactly one pipe name", number + 1)),
            }
        }
        (wanted, problems)
    }
}

/// A service's pipes, once made or found.
#[derive(Debug, Default)]
pub struct Held {
    pub stdin: Option<Rc<Pipe>>,
    pub stdout: Option<Rc<Pipe>>,
}

impl Held {
    /// The pipe called `name`, if this service holds it.
    pub fn find(&self, name: &str) -> Option<&Rc<Pipe>> {
        [&self.stdin, &self.stdout].into_iter().flatten().find(|p| p.name == name)
    }
}

/// A new pipe called `name`.
pub fn make(name: &str) -> nix::Result<Rc<Pipe>> {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    Ok(Rc::new(Pipe { name: name.to_string(), read: Rc::new(read), write: Rc::new(write) }))
}

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_sides_comments_and_reports_bad_lines() {
        let (wanted, problems) = Wanted::parse("# a filter\nstdin  b\n\nstdout c\nstderr d\nstdout\nstdin x y\n");
        assert_eq!(wanted, Wanted { stdin: Some("b".into()), stdout: Some("c".into()) });
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("line 5: `stderr d`"), "{problems:?}");
        assert!(problems[1].contains("exactly one pipe name"), "{problems:?}");
        assert_eq!(Wanted::parse("").0, Wanted::default());
    }
}

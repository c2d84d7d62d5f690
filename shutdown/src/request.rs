//! A shutdown request, and the line that carries it to the daemon: `ACTION DELAY_MS GRACE_MS`
//! (ACTION `p`, `r` or `h`), or `c` to cancel what is pending. Text, one line per request, so
//! that `echo p 0 3000 > fifo` works by hand.

use std::time::Duration;

/// What the machine does at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Power off.
    Poweroff,
    /// Reboot.
    Reboot,
    /// Halt without powering off.
    Halt,
}

/// The longest grace `-t` accepts (s6-linux-init's limit).
pub const MAX_GRACE: Duration = Duration::from_secs(300);
/// The grace between SIGTERM and SIGKILL when none is given.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(3);

impl Action {
    /// The word people read and the final request file stores.
    pub fn word(self) -> &'static str {
        match self {
            Action::Poweroff => "poweroff",
            Action::Reboot => "reboot",
            Action::Halt => "halt",
        }
    }

    /// Reads a stored word.
    pub fn from_word(word: &str) -> Option<Action> {
        match word.trim() {
            "poweroff" => Some(Action::Poweroff),
            "reboot" => Some(Action::Reboot),
            "halt" => Some(Action::Halt),
            _ => None,
        }
    }

    fn letter(self) -> char {
        match self {
            Action::Poweroff => 'p',
            Action::Reboot => 'r',
            Action::Halt => 'h',
        }
    }

    fn from_letter(letter: &str) -> Option<Action> {
        match letter {
            "p" => Some(Action::Poweroff),
            "r" => Some(Action::Reboot),
            "h" => Some(Action::Halt),
            _ => None,
        }
    }
}

/// A shutdown to carry out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// What to do at the end.
    pub action: Action,
    /// How long from now.
    pub delay: Duration,
    /// Between SIGTERM and SIGKILL (for services, then for every process left).
    pub grace: Duration,
}

/// One line of the daemon's FIFO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// Shut down (possibly later).
    Shutdown(Request),
    /// Forget the pending shutdown.
    Cancel,
}

impl Command {
    /// The line, newline included.
    pub fn encode(&self) -> String {
        match self {
            Command::Cancel => "c\n".to_string(),
            Command::Shutdown(r) => {
                format!("{} {} {}\n", r.action.letter(), r.delay.as_millis(), r.grace.as_millis())
            }
        }
    }

    /// Reads a line (without its newline); `None` for anything else.
    pub fn decode(line: &[u8]) -> Option<Command> {
        let line = std::str::from_utf8(line).ok()?;
        let mut words = line.split_ascii_whitespace();
        let first = words.next()?;
        if first == "c" {
            return words.next().is_none().then_some(Command::Cancel);
        }
        let action = Action::from_letter(first)?;
        let delay = Duration::from_millis(words.next()?.parse().ok()?);
        let grace = Duration::from_millis(words.next()?.parse().ok()?).min(MAX_GRACE);
        words.next().is_none().then_some(Command::Shutdown(Request { action, delay, grace }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_garbage_is_refused() {
        let request =
            Request { action: Action::Reboot, delay: Duration::from_secs(60), grace: Duration::from_millis(2500) };
        let line = Command::Shutdown(request).encode();
        assert_eq!(line, "r 60000 2500\n");
        assert_eq!(Command::decode(line.trim_end().as_bytes()), Some(Command::Shutdown(request)));
        assert_eq!(Command::decode(b"c"), Some(Command::Cancel));
        for bad in [&b"x 1 2"[..], b"p 1", b"p -1 2", b"p 1 2 3", b"c c", b"", b"\xff"] {
            assert_eq!(Command::decode(bad), None, "{bad:?}");
        }
        let long = Command::decode(b"h 0 999999999").unwrap();
        assert_eq!(long, Command::Shutdown(Request { action: Action::Halt, delay: Duration::ZERO, grace: MAX_GRACE }));
        for action in [Action::Poweroff, Action::Reboot, Action::Halt] {
            assert_eq!(Action::from_word(&format!("{}\n", action.word())), Some(action));
        }
    }
}

//! The one-byte commands written to a supervisor's `supervise/control` FIFO and to a
//! scanner's `.s6-svscan/control` FIFO. Unknown bytes are ignored by both.

/// A command to a supervisor (s6-svc's letters; 2.11's set plus 2.13's `P C K`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Letter {
    /// `a`: SIGALRM to run.
    Alarm,
    /// `b`: SIGABRT to run.
    Abort,
    /// `q`: SIGQUIT to run.
    Quit,
    /// `h`: SIGHUP to run.
    Hangup,
    /// `k`: SIGKILL to run.
    Kill,
    /// `t`: SIGTERM to run.
    Term,
    /// `i`: SIGINT to run.
    Interrupt,
    /// `1`: SIGUSR1 to run.
    Usr1,
    /// `2`: SIGUSR2 to run.
    Usr2,
    /// `y`: SIGWINCH to run.
    Winch,
    /// `p`: SIGSTOP to run, mark paused.
    Pause,
    /// `c`: SIGCONT to run, clear paused.
    Continue,
    /// `P`: SIGSTOP to run's process group, mark paused.
    PauseGroup,
    /// `C`: SIGCONT to run's process group, clear paused.
    ContinueGroup,
    /// `K`: SIGKILL to run's process group.
    KillGroup,
    /// `r`: down-signal to run; it restarts if wanted up.
    Restart,
    /// `u`: want up, start now if down.
    Up,
    /// `U`: like `u` after deleting the `down` file.
    UpPermanent,
    /// `d`: want down, stop run.
    Down,
    /// `D`: like `d` after creating the `down` file.
    DownPermanent,
    /// `o`: want down; if down, start once.
    Once,
    /// `O`: want down, nothing else.
    OnceNoStart,
    /// `Q`: create `down`, want down, kill nothing.
    DownFileOnly,
    /// `x`: exit once the service is down.
    Exit,
}

impl Letter {
    /// Decodes one control byte; `None` for bytes a supervisor ignores.
    pub fn from_byte(byte: u8) -> Option<Letter> {
        use Letter::*;
        Some(match byte {
            b'a' => Alarm,
            b'b' => Abort,
            b'q' => Quit,
            b'h' => Hangup,
            b'k' => Kill,
            b't' => Term,
            b'i' => Interrupt,
            b'1' => Usr1,
            b'2' => Usr2,
            b'y' => Winch,
            b'p' => Pause,
            b'c' => Continue,
            b'P' => PauseGroup,
            b'C' => ContinueGroup,
            b'K' => KillGroup,
            b'r' => Restart,
            b'u' => Up,
            b'U' => UpPermanent,
            b'd' => Down,
            b'D' => DownPermanent,
            b'o' => Once,
            b'O' => OnceNoStart,
            b'Q' => DownFileOnly,
            b'x' => Exit,
            _ => return None,
        })
    }

    /// The signal a letter sends to the run process, for the letters that only signal.
    pub fn plain_signal(self) -> Option<nix::sys::signal::Signal> {
        use nix::sys::signal::Signal::*;
        use Letter::*;
        Some(match self {
            Alarm => SIGALRM,
            Abort => SIGABRT,
            Quit => SIGQUIT,
            Hangup => SIGHUP,
            Kill => SIGKILL,
            Term => SIGTERM,
            Interrupt => SIGINT,
            Usr1 => SIGUSR1,
            Usr2 => SIGUSR2,
            Winch => SIGWINCH,
            _ => return None,
        })
    }
}

/// Every byte a supervisor understands, in s6-svc's documented order.
pub const SUPERVISOR_LETTERS: &str = "abqhkti12ypcPCKruUdDoOQx";

/// A command to a scanner (s6-svscanctl's letters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScanLetter {
    /// `z`: reap zombies now.
    Reap,
    /// `a`: rescan now.
    Scan,
    /// `b`: exec the finish program at once, without killing or waiting.
    Abort,
    /// `h`: rescan and prune (`a` then `n`).
    Hangup,
    /// `i`: terminate (as SIGINT).
    Interrupt,
    /// `t`: terminate.
    Terminate,
    /// `q`: quit (every supervisor gets SIGTERM, loggers too).
    Quit,
    /// `n`: stop supervisors of services that left the scan directory (loggers with HUP).
    Prune,
    /// `N`: same, loggers with TERM.
    PruneHard,
}

impl ScanLetter {
    /// Decodes one control byte; `None` for bytes a scanner ignores.
    pub fn from_byte(byte: u8) -> Option<ScanLetter> {
        use ScanLetter::*;
        Some(match byte {
            b'z' => Reap,
            b'a' => Scan,
            b'b' => Abort,
            b'h' => Hangup,
            b'i' => Interrupt,
            b't' => Terminate,
            b'q' => Quit,
            b'n' => Prune,
            b'N' => PruneHard,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_letter_decodes() {
        for byte in SUPERVISOR_LETTERS.bytes() {
            assert!(Letter::from_byte(byte).is_some(), "{}", byte as char);
        }
        assert_eq!(Letter::from_byte(b'Z'), None);
        assert_eq!(Letter::from_byte(b'\n'), None);
        for byte in b"zabhitqnN" {
            assert!(ScanLetter::from_byte(*byte).is_some());
        }
        assert_eq!(ScanLetter::from_byte(b'u'), None);
    }
}

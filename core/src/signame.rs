//! Signal names the way s6 writes and reads them: `SIGTERM` in svstat's output, `TERM` or
//! `SIGTERM` or a number in `down-signal`.

use nix::sys::signal::Signal;

/// The name s6-svstat prints for a signal number (`SIGTERM`), or the number itself for
/// signals without a name.
pub fn name(signo: i32) -> String {
    match Signal::try_from(signo) {
        Ok(signal) => signal.as_str().to_string(),
        Err(_) => signo.to_string(),
    }
}

/// Parses `TERM`, `SIGTERM`, `term` or `15`.
pub fn parse(text: &str) -> Option<Signal> {
    let text = text.trim();
    if let Ok(number) = text.parse::<i32>() {
        return Signal::try_from(number).ok();
    }
    let upper = text.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
    full.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(name(15), "SIGTERM");
        assert_eq!(parse("TERM"), Some(Signal::SIGTERM));
        assert_eq!(parse("SIGHUP\n"), Some(Signal::SIGHUP));
        assert_eq!(parse("9"), Some(Signal::SIGKILL));
        assert_eq!(parse("usr1"), Some(Signal::SIGUSR1));
        assert_eq!(parse("NOPE"), None);
        assert_eq!(parse("0"), None);
    }
}

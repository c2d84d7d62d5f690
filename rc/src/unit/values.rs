//! systemd's value syntaxes, read into plain numbers: time spans (`1min 30s`), sizes (`512M`),
//! booleans, signals, resource limits (`LimitNOFILE=1024:4096`), exit statuses.

use std::str::FromStr;

/// A boolean as systemd writes one (`yes`, `true`, `on`, `1`…).
pub fn boolean(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "1" | "yes" | "y" | "true" | "t" | "on" => Some(true),
        "0" | "no" | "n" | "false" | "f" | "off" => Some(false),
        _ => None,
    }
}

/// A time span in microseconds; `None` for `infinity`. A bare number is in `default_unit`
/// microseconds (seconds for `*Sec=` settings: 1_000_000).
pub fn time_span(text: &str, default_unit: u64) -> Result<Option<u64>, String> {
    let text = text.trim();
    if text == "infinity" {
        return Ok(None);
    }
    let bad = || format!("{text:?} is not a time span (such as 5s, 1min 30s, 100ms or infinity)");
    let mut total: u64 = 0;
    let mut rest = text;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        rest = rest.trim_start();
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(rest.len());
        let number: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = rest[digits..].trim_start();
        let unit_len = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "" => default_unit,
            "us" | "usec" | "µs" => 1,
            "ms" | "msec" => 1_000,
            "s" | "sec" | "second" | "seconds" => 1_000_000,
            "m" | "min" | "minute" | "minutes" => 60_000_000,
            "h" | "hr" | "hour" | "hours" => 3_600_000_000,
            "d" | "day" | "days" => 86_400_000_000,
            "w" | "week" | "weeks" => 604_800_000_000,
            "M" | "month" | "months" => 2_629_800_000_000,
            "y" | "year" | "years" => 31_557_600_000_000,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total = total.saturating_add((number * unit as f64) as u64);
    }
    Ok(Some(total))
}

/// A size or count: a number with an optional suffix K, M, G, T, P, E (powers of `base`), or
/// `infinity` (`None`).
pub fn size(text: &str, base: u64) -> Result<Option<u64>, String> {
    let text = text.trim();
    if text == "infinity" {
        return Ok(None);
    }
    let bad = || format!("{text:?} is not a size (a number, with K, M, G or T, or infinity)");
    let (digits, multiplier) = match text.char_indices().last() {
        Some((at, c)) if c.is_ascii_alphabetic() => {
            let power = match c.to_ascii_uppercase() {
                'B' => 0,
                'K' => 1,
                'M' => 2,
                'G' => 3,
                'T' => 4,
                'P' => 5,
                'E' => 6,
                _ => return Err(bad()),
            };
            (&text[..at], base.checked_pow(power).ok_or_else(bad)?)
        }
        _ => (text, 1),
    };
    let number: f64 = digits.trim().parse().map_err(|_| bad())?;
    if number < 0.0 {
        return Err(bad());
    }
    Ok(Some((number * multiplier as f64) as u64))
}

/// A signal, by name (`SIGTERM`, `TERM`) or number, as its canonical name (`SIGTERM`).
pub fn signal(text: &str) -> Option<nix::sys::signal::Signal> {
    use nix::sys::signal::Signal;
    let text = text.trim();
    if let Ok(number) = text.parse::<i32>() {
        return Signal::try_from(number).ok();
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
    Signal::from_str(&name).ok()
}

/// The resources of a `limits` file, by systemd's `Limit*=` name, with how their values read.
pub const LIMITS: &[(&str, &str, LimitUnit)] = &[
    ("LimitCPU", "cpu", LimitUnit::Seconds),
    ("LimitFSIZE", "fsize", LimitUnit::Bytes),
    ("LimitDATA", "data", LimitUnit::Bytes),
    ("LimitSTACK", "stack", LimitUnit::Bytes),
    ("LimitCORE", "core", LimitUnit::Bytes),
    ("LimitRSS", "rss", LimitUnit::Bytes),
    ("LimitNOFILE", "nofile", LimitUnit::Count),
    ("LimitAS", "as", LimitUnit::Bytes),
    ("LimitNPROC", "nproc", LimitUnit::Count),
    ("LimitMEMLOCK", "memlock", LimitUnit::Bytes),
    ("LimitLOCKS", "locks", LimitUnit::Count),
    ("LimitSIGPENDING", "sigpending", LimitUnit::Count),
    ("LimitMSGQUEUE", "msgqueue", LimitUnit::Bytes),
    ("LimitNICE", "nice", LimitUnit::Nice),
    ("LimitRTPRIO", "rtprio", LimitUnit::Count),
    ("LimitRTTIME", "rttime", LimitUnit::Microseconds),
];

/// How a `Limit*=` value reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitUnit {
    /// Bytes, with K, M, G… suffixes (powers of 1024).
    Bytes,
    /// A plain count.
    Count,
    /// Seconds, or a time span.
    Seconds,
    /// Microseconds, or a time span.
    Microseconds,
    /// 0 to 40 as the kernel has it, or a nice level with its sign (`-5`: 25).
    Nice,
}

/// A `Limit*=` value (`SOFT[:HARD]`, one value for both) as a `limits` line's value:
/// `SOFT:HARD`, each a number or `infinity`.
pub fn limit(text: &str, unit: LimitUnit) -> Result<String, String> {
    let one = |value: &str| -> Result<String, String> {
        let value = value.trim();
        if value == "infinity" {
            return Ok("infinity".into());
        }
        let number = match unit {
            LimitUnit::Bytes => size(value, 1024)?,
            LimitUnit::Count => Some(value.parse::<u64>().map_err(|_| format!("{value:?} is not a number"))?),
            LimitUnit::Seconds => time_span(value, 1_000_000)?.map(|us| us / 1_000_000),
            LimitUnit::Microseconds => time_span(value, 1)?,
            LimitUnit::Nice => {
                let nice = |v: &str| v.parse::<i64>().map_err(|_| format!("{v:?} is not a nice level"));
                match value.strip_prefix('+') {
                    Some(level) => Some((20 - nice(level)?).clamp(0, 40) as u64),
                    None if value.starts_with('-') => Some((20 - nice(value)?).clamp(0, 40) as u64),
                    None => Some(nice(value)?.clamp(0, 40) as u64),
                }
            }
        };
        Ok(number.map_or("infinity".into(), |n| n.to_string()))
    };
    let (soft, hard) = text.split_once(':').unwrap_or((text, text));
    Ok(format!("{}:{}", one(soft)?, one(hard)?))
}

/// An exit status list (`SuccessExitStatus=`, `RestartPreventExitStatus=`): numbers 0–255 and
/// signal names, as `finish`'s `CODE:SIGNAL` patterns (`1:*`, `256:15`). Words it cannot read
/// come back on their own.
pub fn exit_statuses(text: &str) -> (Vec<String>, Vec<String>) {
    let mut patterns = Vec::new();
    let mut unknown = Vec::new();
    for word in text.split_whitespace() {
        if let Ok(code) = word.parse::<u8>() {
            patterns.push(format!("{code}:*"));
        } else if let Some(signal) = signal(word).filter(|_| word.parse::<i32>().is_err()) {
            patterns.push(format!("256:{}", signal as i32));
        } else {
            unknown.push(word.to_string());
        }
    }
    (patterns, unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_spans() {
        assert_eq!(time_span("5", 1_000_000), Ok(Some(5_000_000)));
        assert_eq!(time_span("1min 30s", 1_000_000), Ok(Some(90_000_000)));
        assert_eq!(time_span("100ms", 1_000_000), Ok(Some(100_000)));
        assert_eq!(time_span("2h", 1_000_000), Ok(Some(7_200_000_000)));
        assert_eq!(time_span("1.5s", 1_000_000), Ok(Some(1_500_000)));
        assert_eq!(time_span("infinity", 1_000_000), Ok(None));
        assert!(time_span("soon", 1_000_000).is_err());
        assert!(time_span("", 1_000_000).is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(size("512M", 1024), Ok(Some(512 << 20)));
        assert_eq!(size("1G", 1024), Ok(Some(1 << 30)));
        assert_eq!(size("4096", 1024), Ok(Some(4096)));
        assert_eq!(size("1.5K", 1024), Ok(Some(1536)));
        assert_eq!(size("infinity", 1024), Ok(None));
        assert!(size("50%", 1024).is_err());
        assert!(size("lots", 1024).is_err());
    }

    #[test]
    fn booleans_and_signals() {
        assert_eq!(boolean("yes"), Some(true));
        assert_eq!(boolean("Off"), Some(false));
        assert_eq!(boolean("maybe"), None);
        assert_eq!(signal("SIGINT").map(|s| s.as_str()), Some("SIGINT"));
        assert_eq!(signal("quit").map(|s| s.as_str()), Some("SIGQUIT"));
        assert_eq!(signal("9").map(|s| s.as_str()), Some("SIGKILL"));
        assert_eq!(signal("SIGFLY"), None);
    }

    #[test]
    fn limits() {
        assert_eq!(limit("16384", LimitUnit::Count).unwrap(), "16384:16384");
        assert_eq!(limit("1024:4096", LimitUnit::Count).unwrap(), "1024:4096");
        assert_eq!(limit("8M:infinity", LimitUnit::Bytes).unwrap(), "8388608:infinity");
        assert_eq!(limit("infinity", LimitUnit::Bytes).unwrap(), "infinity:infinity");
        assert_eq!(limit("1h", LimitUnit::Seconds).unwrap(), "3600:3600");
        assert_eq!(limit("-5", LimitUnit::Nice).unwrap(), "25:25");
        assert_eq!(limit("+10", LimitUnit::Nice).unwrap(), "10:10");
        assert_eq!(limit("30", LimitUnit::Nice).unwrap(), "30:30");
        assert!(limit("many", LimitUnit::Count).is_err());
    }

    #[test]
    fn exit_status_patterns() {
        assert_eq!(
            exit_statuses("255 SIGUSR1 6 CONFIG"),
            (vec!["255:*".to_string(), "256:10".into(), "6:*".into()], vec!["CONFIG".to_string()])
        );
    }
}

//! `shutdown`'s TIME: `now`, `+MIN` or `MIN` (minutes from now), `HH:MM` (the next time the
//! local clock shows it).

use std::time::Duration;

/// TIME as given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// This many minutes from now (`now` is 0).
    In(u64),
    /// At this local time of day.
    At(u32, u32),
}

/// Reads TIME; the error says what is accepted.
pub fn parse(text: &str) -> Result<When, String> {
    let bad = || format!("bad time {text:?}: give now, +MINUTES or HH:MM");
    if text == "now" {
        return Ok(When::In(0));
    }
    if let Some((hours, minutes)) = text.split_once(':') {
        let hours: u32 = hours.parse().map_err(|_| bad())?;
        let minutes: u32 = minutes.parse().map_err(|_| bad())?;
        if hours > 23 || minutes > 59 || text.len() > 5 {
            return Err(bad());
        }
        return Ok(When::At(hours, minutes));
    }
    let digits = text.strip_prefix('+').unwrap_or(text);
    digits.parse().map(When::In).map_err(|_| bad())
}

impl When {
    /// How long from now, given the local time of day now in seconds since midnight.
    pub fn delay(self, now_seconds_of_day: u64) -> Duration {
        match self {
            When::In(minutes) => Duration::from_secs(minutes.saturating_mul(60)),
            When::At(hours, minutes) => {
                let target = u64::from(hours) * 3600 + u64::from(minutes) * 60;
                let day = 24 * 3600;
                Duration::from_secs((target + day - now_seconds_of_day % day) % day)
            }
        }
    }
}

/// The local time of day now, in seconds since midnight (UTC when no time zone is set).
pub fn seconds_of_day_now() -> u64 {
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_REALTIME).map_or(0, |t| t.tv_sec());
    let mut broken = std::mem::MaybeUninit::<libc::tm>::zeroed();
    // SAFETY: localtime_r writes into the tm we own and reads only `now`.
    let tm = unsafe {
        if libc::localtime_r(&now, broken.as_mut_ptr()).is_null() {
            return (now.rem_euclid(86_400)) as u64;
        }
        broken.assume_init()
    };
    (tm.tm_hour as u64) * 3600 + (tm.tm_min as u64) * 60 + tm.tm_sec as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse("now"), Ok(When::In(0)));
        assert_eq!(parse("+5"), Ok(When::In(5)));
        assert_eq!(parse("10"), Ok(When::In(10)));
        assert_eq!(parse("23:59"), Ok(When::At(23, 59)));
        for bad in ["", "+", "-1", "24:00", "12:60", "soon", "1:2:3", "12:005"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(When::In(2).delay(0), Duration::from_secs(120));
        // 10:00 asked at 09:30 → 30 min; at 10:30 → tomorrow, 23 h 30 min.
        assert_eq!(When::At(10, 0).delay(9 * 3600 + 1800), Duration::from_secs(1800));
        assert_eq!(When::At(10, 0).delay(10 * 3600 + 1800), Duration::from_secs(23 * 3600 + 1800));
    }
}

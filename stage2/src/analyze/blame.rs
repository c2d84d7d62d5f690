//! `ostler analyze blame`: one line per service, the slowest (from started to ready) first,
//! then the services that never were ready, saying why.

use super::{find, human, start_to_ready, unwell_dependencies, Outcome};
use ostler_core::timeline::Entry;

/// The blame list: `1.234s webapp` lines, slowest first, the time right-aligned; then the
/// services without a start-to-ready time in the order they were asked for:
/// `failed mail (exit 3, started @1.502s)`, `timeout ntp (…)`, `skipped report (mail failed)`.
pub fn blame(entries: &[Entry]) -> String {
    let mut timed: Vec<(&Entry, f64)> = entries.iter().filter_map(|e| Some((e, start_to_ready(e)?))).collect();
    timed.sort_by(|(a, ta), (b, tb)| tb.total_cmp(ta).then_with(|| a.name.cmp(&b.name)));
    let mut untimed: Vec<&Entry> = entries.iter().filter(|e| start_to_ready(e).is_none()).collect();
    untimed.sort_by(|a, b| a.asked.total_cmp(&b.asked).then_with(|| a.name.cmp(&b.name)));

    let mut rows: Vec<(String, String)> = Vec::with_capacity(entries.len());
    for (entry, duration) in timed {
        let note = match Outcome::of(entry) {
            Outcome::Ok => String::new(),
            _ => format!(" ({})", entry.result.trim()),
        };
        rows.push((human(duration), format!("{}{note}", entry.name)));
    }
    for entry in untimed {
        rows.push(untimed_row(entries, entry));
    }

    let width = rows.iter().map(|(time, _)| time.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for (time, what) in rows {
        out.push_str(&format!("{time:>width$} {what}\n"));
    }
    out
}

/// The line of a service that has no start-to-ready time: what happened instead.
fn untimed_row(entries: &[Entry], entry: &Entry) -> (String, String) {
    let started = entry.started.map(|t| format!("started @{}", human(t)));
    let details = |first: Option<String>| -> String {
        let parts: Vec<String> = first.into_iter().chain(started.clone()).collect();
        if parts.is_empty() {
            entry.name.clone()
        } else {
            format!("{} ({})", entry.name, parts.join(", "))
        }
    };
    match Outcome::of(entry) {
        Outcome::Failed(reason) => ("failed".into(), details((!reason.is_empty()).then(|| reason.to_string()))),
        Outcome::Timeout => ("timeout".into(), details(Some("never ready".into()))),
        Outcome::Skipped => {
            let unwell = unwell_dependencies(entries, entry);
            let why = if unwell.is_empty() {
                "a dependency failed".to_string()
            } else {
                let states: Vec<String> = unwell
                    .iter()
                    .map(|name| {
                        let word = find(entries, name).map_or("failed", |d| match Outcome::of(d) {
                            Outcome::Timeout => "timed out",
                            Outcome::Skipped => "was skipped",
                            _ => "failed",
                        });
                        format!("{name} {word}")
                    })
                    .collect();
                states.join(", ")
            };
            ("skipped".into(), details(Some(why)))
        }
        Outcome::Ok | Outcome::Other(_) if entry.ready.is_some() => {
            let ready = entry.ready.map(|t| format!("ready @{}, no start time", human(t)));
            ("-".into(), details(ready))
        }
        Outcome::Ok | Outcome::Other(_) => {
            let result = entry.result.trim();
            let what = if result.is_empty() || result == "ok" { "not ready".to_string() } else { result.to_string() };
            ("-".into(), details(Some(what)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{diamond, entry};
    use super::*;

    #[test]
    fn slowest_first_then_the_ones_never_ready() {
        let expected = concat!(
            "  100ms c\n",
            "   20ms b\n",
            "   10ms a\n",
            "    6ms d\n",
            " failed e (exit 3, started @110ms)\n",
            "skipped f (e failed)\n",
        );
        assert_eq!(blame(&diamond()), expected);
    }

    #[test]
    fn seconds_ties_and_odd_results() {
        let entries = vec![
            entry("web", 0.0, Some(1.0), Some(1235.0), "ok", ""),
            entry("x", 0.0, Some(1.0), Some(11.0), "ok", ""),
            entry("w", 0.0, Some(1.0), Some(11.0), "failed exit 1", ""),
            entry("t", 5.0, Some(6.0), None, "timeout", ""),
            entry("s", 1.0, None, None, "skipped", "nowhere"),
            entry("n", 2.0, Some(3.0), None, "starting", ""),
            entry("r", 3.0, None, Some(4.0), "ok", ""),
        ];
        let expected = concat!(
            " 1.234s web\n",
            "   10ms w (failed exit 1)\n",
            "   10ms x\n",
            "skipped s (a dependency failed)\n",
            "      - n (starting, started @3ms)\n",
            "      - r (ready @4ms, no start time)\n",
            "timeout t (never ready, started @6ms)\n",
        );
        assert_eq!(blame(&entries), expected);
    }

    #[test]
    fn nothing_gives_nothing() {
        assert_eq!(blame(&[]), "");
    }
}

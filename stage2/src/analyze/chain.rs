//! `ostler analyze critical-chain`: the services that decided when a service was ready. From
//! the service, step back to the dependency that became ready last (the one it waited for
//! longest), and again, until a service waited for nothing.

use super::{find, human, unwell_dependencies, Outcome};
use ostler_core::timeline::Entry;

/// Why no chain can be shown.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum ChainError {
    /// The service asked for is not in the timeline.
    #[error("no service {name} in the timeline; it has: {known}")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The names it has (the first few).
        known: String,
    },
    /// No service was named and none was ready, so there is no "last".
    #[error("no service in the timeline was ready, so none came last; name one: ostler analyze critical-chain NAME")]
    NothingReady,
}

/// How many names an [`ChainError::Unknown`] lists.
const NAMES_LISTED: usize = 12;

/// The service that became ready last (the last by name among equals).
pub(crate) fn last_ready(entries: &[Entry]) -> Option<&Entry> {
    entries
        .iter()
        .filter_map(|e| Some((e, e.ready?)))
        .max_by(|(a, ta), (b, tb)| ta.total_cmp(tb).then_with(|| a.name.cmp(&b.name)))
        .map(|(e, _)| e)
}

/// The chain of `entry`: itself, then what held it up, and so on back to a service with no
/// dependency in the timeline. A service that was ready steps to its dependency ready last; one
/// that was not steps to the dependency that failed it, if any. A loop in bad data stops the
/// walk at the first service seen twice.
pub(crate) fn walk<'a>(entries: &'a [Entry], entry: &'a Entry) -> Vec<&'a Entry> {
    let mut chain = vec![entry];
    let mut current = entry;
    loop {
        let seen = |name: &str| chain.iter().any(|e| e.name == name);
        let dependencies =
            || current.dependencies.iter().filter(|name| !seen(name)).filter_map(|name| find(entries, name));
        let culprit = if current.ready.is_none() {
            let unwell = unwell_dependencies(entries, current);
            dependencies().find(|d| unwell.contains(&d.name.as_str()))
        } else {
            None
        };
        let next = culprit.or_else(|| {
            dependencies()
                .filter_map(|d| Some((d, d.ready?)))
                .max_by(|(a, ta), (b, tb)| ta.total_cmp(tb).then_with(|| a.name.cmp(&b.name)))
                .map(|(d, _)| d)
        });
        match next {
            Some(next) => {
                chain.push(next);
                current = next;
            }
            None => return chain,
        }
    }
}

/// The critical chain of `name` (default: the service ready last), indented as
/// systemd-analyze prints it, with the total from the first service asked to `name` ready.
pub fn critical_chain(entries: &[Entry], name: Option<&str>) -> Result<String, ChainError> {
    let top = match name {
        Some(name) => find(entries, name).ok_or_else(|| {
            let mut names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
            names.sort_unstable();
            let more = if names.len() > NAMES_LISTED { ", …" } else { "" };
            names.truncate(NAMES_LISTED);
            ChainError::Unknown { name: name.to_string(), known: format!("{}{more}", names.join(", ")) }
        })?,
        None => last_ready(entries).ok_or(ChainError::NothingReady)?,
    };
    let mut out = String::from(
        "The time when a service was ready is printed after \"@\", \
         the time it took from started to ready after \"+\".\n\n",
    );
    for (depth, entry) in walk(entries, top).into_iter().enumerate() {
        if depth > 0 {
            out.push_str(&"  ".repeat(depth - 1));
            out.push_str("└─");
        }
        out.push_str(&describe(entry));
        out.push('\n');
    }
    let first_asked = entries.iter().map(|e| e.asked).min_by(f64::total_cmp);
    match (top.ready, first_asked) {
        (Some(ready), Some(first)) => out.push_str(&format!(
            "\ntotal: {}, from the first service asked (@{}) to {} ready (@{})\n",
            human(ready - first),
            human(first),
            top.name,
            human(ready)
        )),
        _ => out.push_str(&format!("\n{} was never ready: {}\n", top.name, top.result.trim())),
    }
    Ok(out)
}

/// One service of the chain: `name @ready +start-to-ready`, or how it ended.
fn describe(entry: &Entry) -> String {
    match (entry.started, entry.ready) {
        (Some(started), Some(ready)) => {
            let note = match Outcome::of(entry) {
                Outcome::Ok => String::new(),
                _ => format!(" ({})", entry.result.trim()),
            };
            format!("{} @{} +{}{note}", entry.name, human(ready), human(ready - started))
        }
        (None, Some(ready)) => format!("{} @{}", entry.name, human(ready)),
        (Some(started), None) => format!("{} {} (started @{})", entry.name, entry.result.trim(), human(started)),
        (None, None) => format!("{} {}", entry.name, entry.result.trim()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{diamond, entry};
    use super::*;

    const HEADER: &str =
        "The time when a service was ready is printed after \"@\", the time it took from started to ready after \"+\".\n\n";

    #[test]
    fn the_chain_of_the_diamond_goes_through_the_slower_side() {
        let entries = diamond();
        let names: Vec<&str> = walk(&entries, &entries[3]).iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["d", "c", "a"]);
        let text = critical_chain(&entries, None).unwrap();
        assert_eq!(
            text,
            format!(
                "{HEADER}d @216ms +6ms\n└─c @210ms +100ms\n  └─a @110ms +10ms\n\n\
                 total: 116ms, from the first service asked (@100ms) to d ready (@216ms)\n"
            )
        );
        assert_eq!(
            critical_chain(&entries, Some("b")).unwrap(),
            format!("{HEADER}b @130ms +20ms\n└─a @110ms +10ms\n\ntotal: 30ms, from the first service asked (@100ms) to b ready (@130ms)\n")
        );
    }

    #[test]
    fn a_skipped_service_leads_to_the_failure() {
        let entries = diamond();
        assert_eq!(
            critical_chain(&entries, Some("f")).unwrap(),
            format!("{HEADER}f skipped\n└─e failed exit 3 (started @110ms)\n  └─a @110ms +10ms\n\nf was never ready: skipped\n")
        );
    }

    #[test]
    fn unknown_names_and_nothing_ready() {
        let entries = diamond();
        assert_eq!(
            critical_chain(&entries, Some("zz")),
            Err(ChainError::Unknown { name: "zz".into(), known: "a, b, c, d, e, f".into() })
        );
        let failed = vec![entry("x", 1.0, Some(2.0), None, "timeout", "")];
        assert_eq!(critical_chain(&failed, None), Err(ChainError::NothingReady));
        assert_eq!(critical_chain(&[], None), Err(ChainError::NothingReady));
    }

    #[test]
    fn loops_in_bad_data_end() {
        let entries = vec![
            entry("a", 0.0, Some(1.0), Some(2.0), "ok", "b"),
            entry("b", 0.0, Some(1.0), Some(3.0), "ok", "a,b,missing"),
        ];
        let names: Vec<&str> = walk(&entries, &entries[0]).iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        let text = critical_chain(&entries, None).unwrap();
        assert!(text.contains("b @3ms +2ms\n└─a @2ms +1ms\n\n"), "{text}");
    }
}

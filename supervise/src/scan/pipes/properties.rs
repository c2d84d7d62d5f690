//! Property tests of the `ostler-pipes` parser (issue 15): any text reads without a panic,
//! every problem names its line and says what to write, and a good line is used whatever
//! garbage surrounds it (the file skips bad lines; the last good line of a side wins).

use super::Wanted;
use proptest::prelude::*;

/// Lines that are not entries: arbitrary text, NULs, very long, sides with the wrong words.
fn garbage_line() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,40}",
        "(stdin|stdout|stderr)( [a-z]{1,5}){0,3}",
        Just("\0".to_string()),
        (1usize..6000).prop_map(|n| "y".repeat(n)),
    ]
    .prop_map(|line| line.replace(['\n', '\r'], " "))
}

/// A good line: a side and a pipe name.
fn good_line() -> impl Strategy<Value = (bool, String)> {
    (any::<bool>(), "[a-z0-9_.-]{1,20}")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn good_lines_win_and_bad_lines_are_named(
        lines in proptest::collection::vec(prop_oneof![good_line().prop_map(Ok), garbage_line().prop_map(Err)], 0..20),
    ) {
        let text: String = lines
            .iter()
            .map(|line| match line {
                Ok((stdin, name)) => format!("{} {name}\n", if *stdin { "stdin" } else { "stdout" }),
                Err(garbage) => format!("{garbage}\n"),
            })
            .collect();
        let (wanted, problems) = Wanted::parse(&text);
        prop_assert!(problems.len() <= lines.len());
        for problem in &problems {
            let number: usize = problem
                .strip_prefix("line ")
                .and_then(|p| p.split(':').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            prop_assert!((1..=lines.len()).contains(&number), "{problem}");
            prop_assert!(lines[number - 1].is_err(), "good line {number} reported: {problem}");
            prop_assert!(problem.contains("write `stdin NAME`") || problem.contains("exactly one pipe name"));
        }
        // The last good line of each side is what the file asks for, unless a garbage line
        // after it happens to be a good line too.
        for (side, got) in [(true, &wanted.stdin), (false, &wanted.stdout)] {
            let last = lines.iter().rposition(|l| matches!(l, Ok((s, _)) if *s == side));
            if let Some(at) = last {
                let Ok((_, name)) = &lines[at] else { unreachable!() };
                let later_garbage = lines[at + 1..].iter().any(|l| l.is_err());
                prop_assert!(got.as_ref() == Some(name) || later_garbage, "{got:?} for {name:?} in {text:?}");
            }
        }
    }
}

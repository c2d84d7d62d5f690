//! Property tests of what stage 1 and `mount-all` read (issue 15): the kernel command line and
//! /etc/fstab. Arbitrary text and good entries mixed with garbage; checked: no panic, output
//! bounded by the input, every good entry kept (fstab skips a bad line, reporting it with the
//! file and line), and each problem saying what to write.

use ostler_init::cmdline;
use ostler_init::fstab::parse::{self, Spec};
use ostler_init::fstab::FstabError;
use proptest::prelude::*;
use std::path::PathBuf;

#[path = "../../tests/util/properties.rs"]
mod common;
use common::*;

/// Lines that are not entries: arbitrary text, huge numbers, NULs, escapes, very long.
fn garbage_line() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,60}",
        "[a-z/=]{1,10} /[a-z]{0,5} [a-z]{1,5} [a-z,=]{0,20} [0-9]{10,30} -?[0-9]{1,30}",
        "(\\\\[0-9]{1,3}|[a-z ]){0,20}",
        "LABEL=( |\"\")[a-z]{0,3} /x ext4",
        Just("\0 \0 \0".to_string()),
        (1usize..6000).prop_map(|n| "z".repeat(n)),
    ]
    .prop_map(|line| line.replace('\n', " "))
}

// ---------------------------------------------------------------------------------------------
// The kernel command line.

/// Words of ours or the kernel's, which stage 2 does not get.
const NOT_FOR_STAGE2: &[&str] = &["rw", "ro", "rootwait", "quiet", "ostler.debug", "emergency", "single", "-s", "S"];

proptest! {
    #![proptest_config(config(256))]

    /// Any command line: stage 2 gets only words of the line, never more than there are; every
    /// plain word between garbage words is passed on, in order; the last `root=` wins.
    #[test]
    fn cmdline_passes_every_plain_word_on(
        words in proptest::collection::vec(prop_oneof![
            "[a-z][a-z0-9_-]{0,10}".prop_filter("not ours", |w| !NOT_FOR_STAGE2.contains(&w.as_str())).prop_map(Ok),
            "[^ \t\n]{1,30}".prop_map(Err),
        ], 0..30),
        root in proptest::option::of("[A-Za-z0-9=/_-]{1,20}"),
    ) {
        let mut line = words.iter().map(|w| match w { Ok(w) | Err(w) => w.clone() }).collect::<Vec<_>>();
        if let Some(root) = &root {
            line.push(format!("root={root}"));
        }
        let line = line.join(" ");
        let parsed = cmdline::parse(&line);
        prop_assert!(parsed.for_stage2.len() <= line.split_whitespace().count());
        for word in &parsed.for_stage2 {
            prop_assert!(line.split_whitespace().any(|w| w == word));
        }
        let mut rest = parsed.for_stage2.iter();
        for word in words.iter().filter_map(|w| w.as_ref().ok()) {
            prop_assert!(rest.any(|w| w == word), "{word} lost from {line:?}: {:?}", parsed.for_stage2);
        }
        if let Some(root) = root {
            prop_assert_eq!(parsed.root.map(|r| r.device), Some(root));
        }
    }

    /// Any text at all, NULs and control bytes included.
    #[test]
    fn cmdline_any_text(line in any::<String>()) {
        let parsed = cmdline::parse(&line);
        prop_assert!(parsed.for_stage2.len() <= line.split_whitespace().count());
    }
}

// ---------------------------------------------------------------------------------------------
// /etc/fstab.

/// A good fstab line: its text and what it must read as (spec, target, type, nofail).
fn good_fstab_line() -> impl Strategy<Value = (String, (Spec, String, String, bool))> {
    let spec = prop_oneof![
        "/dev/vd[a-z][0-9]".prop_map(|p| (p.clone(), Spec::Path(p))),
        "[a-z]{1,8}".prop_map(|l| (format!("LABEL={l}"), Spec::Label(l))),
        "[a-z]{1,8}".prop_map(|l| (format!("LABEL=\"{l}\""), Spec::Label(l))),
        "[0-9a-f]{8}-[0-9a-f]{4}".prop_map(|u| (format!("UUID={u}"), Spec::Uuid(u))),
        "[0-9a-f]{8}-0[1-9]".prop_map(|u| (format!("PARTUUID={u}"), Spec::PartUuid(u))),
        Just(("tmpfs".to_string(), Spec::Path("tmpfs".into()))),
    ];
    let target = ("(/[a-z]{1,8}){0,3}", proptest::option::of("[a-z]{1,5}"), any::<bool>());
    let fstype = prop::sample::select(vec!["ext4", "tmpfs", "xfs", "vfat", "auto"]);
    let options = proptest::option::of(proptest::sample::subsequence(
        vec!["defaults", "noatime", "nofail", "ro", "mode=0755", "x-systemd.automount", "errors=remount-ro"],
        1..4,
    ));
    let numbers = proptest::option::of((0u32..2, proptest::option::of(0u32..3)));
    (spec, target, fstype, options, numbers).prop_map(
        |((spec_text, spec), (path, spaced, slash), fstype, options, numbers)| {
            // A mount point with a space (written \040), and a trailing slash that means nothing.
            let mut target = if path.is_empty() { "/".to_string() } else { path };
            if let Some(word) = spaced {
                target = format!("{}/my {word}", target.trim_end_matches('/'));
            }
            let written = format!("{}{}", target.replace(' ', "\\040"), if slash && target != "/" { "/" } else { "" });
            let nofail = options.as_ref().is_some_and(|o| o.contains(&"nofail"));
            let mut line = format!("{spec_text}\t{written} {fstype}");
            if let Some(options) = options {
                line += &format!(" {}", options.join(","));
                if let Some((freq, pass)) = numbers {
                    line += &format!(" {freq}");
                    if let Some(pass) = pass {
                        line += &format!("   {pass}");
                    }
                }
            }
            (line, (spec, target, fstype.to_string(), nofail))
        },
    )
}

proptest! {
    #![proptest_config(config(128))]

    /// Every good line is an entry, with its line number, whatever lines are between them;
    /// every problem is a line that is not a good one, and reads as `FILE:LINE: what; fix`.
    #[test]
    fn fstab_keeps_every_good_line(
        lines in mixed(good_fstab_line(), 25),
    ) {
        let text = text_of(&lines, |(line, _)| format!("{line}\n"));
        let (entries, problems) = parse::parse(&text);
        prop_assert!(entries.len() + problems.len() <= text.lines().count());
        for (index, line) in lines.iter().enumerate() {
            let Ok((written, (spec, target, fstype, nofail))) = line else { continue };
            let entry = entries.iter().find(|e| e.line == index + 1);
            let entry = entry.ok_or_else(|| TestCaseError::fail(format!("line {} lost: {written:?}", index + 1)))?;
            prop_assert_eq!(&entry.spec, spec);
            prop_assert_eq!(&entry.target, target);
            prop_assert_eq!(&entry.fstype, fstype);
            prop_assert_eq!(entry.options.nofail, *nofail);
        }
        let fstab = PathBuf::from("/etc/fstab");
        for (number, problem) in problems {
            prop_assert!(lines[number - 1].is_err(), "good line {number} refused: {problem}");
            let message = problem.to_string();
            prop_assert!(message.contains(';') || message.contains("from 0 to"), "no fix in {message}");
            let error = FstabError::Line { path: fstab.clone(), line: number, problem: Box::new(problem.into()) };
            prop_assert!(error.to_string().starts_with(&format!("/etc/fstab:{number}: ")), "{error}");
        }
    }

    /// Options and specs alone, any text: sorted or refused, never a panic.
    #[test]
    fn fstab_fields_any_text(field in garbage_line(), swap in any::<bool>()) {
        let _ = parse::parse_options(&field, if swap { "swap" } else { "ext4" });
        let spec = parse::parse_spec(&field);
        if let Ok(Spec::Label(label) | Spec::Uuid(label) | Spec::PartLabel(label) | Spec::PartUuid(label)) = spec {
            prop_assert!(!label.is_empty());
        }
    }
}

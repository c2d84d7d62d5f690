//! Property tests of every format `core` decodes from bytes others write (issue 15): service
//! directory settings, `supervise/status`, `death_tally`, control letters, fifodir names, tain,
//! signal names, `modules.dep`, mountinfo, the boot timeline. Each feeds arbitrary bytes and good entries mixed
//! with garbage, and checks: no panic, no hang (a 2 s bound per case), output bounded by the
//! input, errors naming the file and the fix, and every good entry still used.

use ostler_core::settings::{self, Limit, Settings};
use ostler_core::status::Status;
use ostler_core::{death_tally, fifodir, letter, modules_dep, mountinfo, signame, timeline, CoreError, Tain};
use proptest::prelude::*;
use std::time::Duration;

#[path = "../../tests/util/properties.rs"]
mod common;
use common::*;

/// Arbitrary file contents: bytes (invalid UTF-8 and NULs included), or text garbage.
fn garbage_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        garbage_line().prop_map(String::into_bytes),
        (257usize..2000).prop_map(|n| vec![b'7'; n]),
    ]
}

// ---------------------------------------------------------------------------------------------
// Service directory settings.

/// The settings files with a good value each, and a check that the value was used.
#[allow(clippy::type_complexity)]
const GOOD_SETTINGS: &[(&str, &str, fn(&Settings) -> bool)] = &[
    ("notification-fd", "3\n", |s| s.notification_fd == Some(3)),
    ("lock-fd", " 4 ", |s| s.lock_fd == Some(4)),
    ("timeout-kill", "250", |s| s.timeout_kill == Some(Duration::from_millis(250))),
    ("timeout-finish", "0\n", |s| s.timeout_finish.is_none()),
    ("max-death-tally", "99999", |s| s.max_death_tally == death_tally::LIMIT),
    ("down-signal", "HUP\n", |s| s.down_signal == nix::sys::signal::Signal::SIGHUP),
    ("kill-mode", "process", |s| s.keep_leftovers),
    ("memory-max", "64M", |s| s.group_limits.memory_max == Some(Limit::Value(64 << 20))),
    ("pids-max", "max", |s| s.group_limits.pids_max == Some(Limit::Max)),
    ("cpu-weight", "500", |s| s.group_limits.cpu_weight == Some(Limit::Value(500))),
    ("io-weight", "1", |s| s.group_limits.io_weight == Some(Limit::Value(1))),
];

proptest! {
    #![proptest_config(config(48))]

    /// Each settings file good or garbage: the good ones are used whatever the others hold,
    /// and each problem is a `BadSetting` naming its file, with a fix.
    #[test]
    fn settings_good_files_survive_garbage_beside_them(
        choices in proptest::collection::vec(proptest::option::weighted(0.3, garbage_bytes()), GOOD_SETTINGS.len()),
    ) {
        let dir = TempDir::new("settings");
        for ((name, good, _), garbage) in GOOD_SETTINGS.iter().zip(&choices) {
            let bytes = garbage.clone().unwrap_or_else(|| good.as_bytes().to_vec());
            std::fs::write(dir.0.join(name), bytes).unwrap();
        }
        let path = dir.0.clone();
        let (settings, problems) = within(move || Settings::load(&path));
        for ((name, _, used), garbage) in GOOD_SETTINGS.iter().zip(&choices) {
            if garbage.is_none() {
                prop_assert!(used(&settings), "good {name} not used: {settings:?}, {problems:?}");
            }
        }
        let garbage_files = choices.iter().filter(|c| c.is_some()).count();
        // One problem a file at most, plus lock-fd equal to notification-fd.
        prop_assert!(problems.len() <= garbage_files + 1, "{problems:?}");
        for problem in &problems {
            let CoreError::BadSetting { path, problem: what, fix } = problem else {
                return Err(TestCaseError::fail(format!("not a BadSetting: {problem}")));
            };
            prop_assert!(path.parent() == Some(dir.0.as_path()), "{problem}");
            let name = path.file_name().unwrap().to_str().unwrap();
            prop_assert!(GOOD_SETTINGS.iter().any(|(n, _, _)| *n == name), "{problem}");
            prop_assert!(!what.is_empty() && !fix.is_empty(), "{problem}");
            prop_assert!(problem.to_string().starts_with(&format!("{}: ", path.display())), "{problem}");
        }
    }

    /// `read_small` on any file: `None` only when absent, an error naming the file otherwise
    /// when it is not short text, never more than the limit.
    #[test]
    fn read_small_is_bounded_and_names_the_file(bytes in garbage_bytes()) {
        let dir = TempDir::new("small");
        let path = dir.0.join("timeout-kill");
        std::fs::write(&path, &bytes).unwrap();
        match settings::read_small(&path) {
            Ok(Some(text)) => prop_assert_eq!(text.as_bytes(), &bytes[..]),
            Ok(None) => prop_assert!(false, "an existing file read as absent"),
            Err(e) => {
                prop_assert!(bytes.len() > 256 || std::str::from_utf8(&bytes).is_err(), "{e}");
                prop_assert!(e.to_string().contains(&path.display().to_string()), "{e}");
                prop_assert!(e.to_string().contains("default is used"), "{e}");
            }
        }
    }

    /// Limit files: any text is a value, `max` or an error saying what to write; weights stay
    /// in 1..=10000.
    #[test]
    fn limits_parse_or_explain(
        file in prop::sample::select(vec!["memory-max", "pids-max", "cpu-weight", "io-weight"]),
        text in garbage_line(),
    ) {
        match settings::parse_limit(file, &text) {
            Ok(Limit::Value(n)) if file.ends_with("-weight") => prop_assert!((1..=10000).contains(&n)),
            Ok(Limit::Max) => prop_assert!(!file.ends_with("-weight")),
            Ok(_) => {}
            Err(message) => prop_assert!(message.contains("write"), "{message}"),
        }
    }

    /// A limit written well is read back, with or without a unit and blanks.
    #[test]
    fn limits_good_values_round_trip(
        n in 0u64..1 << 33,
        unit in prop::sample::select(vec![("", 1u64), ("K", 1 << 10), ("m", 1 << 20), ("G", 1 << 30)]),
    ) {
        let text = format!(" {n}{}\n", unit.0);
        prop_assert_eq!(settings::parse_limit("memory-max", &text), Ok(Limit::Value(n * unit.1)));
    }
}

// ---------------------------------------------------------------------------------------------
// supervise/status and death_tally.

proptest! {
    #![proptest_config(config(256))]

    /// Any bytes: a status only at 35 or 43 bytes, and a 35-byte one packs back to its bytes
    /// (less the flag bits no s6 defines).
    #[test]
    fn status_unpack_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
        let status = Status::unpack(&bytes);
        prop_assert_eq!(status.is_some(), bytes.len() == Status::LEN || bytes.len() == Status::LEN_2_13);
        if let Some(status) = status {
            let _ = (status.death(), status.is_up());
            let _ = (status.stamp.to_system(), status.stamp.seconds_until(status.readystamp));
            if bytes.len() == Status::LEN {
                let mut expected = bytes.clone();
                expected[34] &= 0x0f;
                prop_assert_eq!(status.pack().to_vec(), expected);
            }
        }
    }

    /// Any `death_tally` file: one death per whole 14-byte record, packing back to its bytes.
    #[test]
    fn death_tally_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..500)) {
        let deaths = death_tally::unpack_all(&bytes);
        prop_assert_eq!(deaths.len(), bytes.len() / death_tally::RECORD_LEN);
        let packed: Vec<u8> = deaths.iter().flat_map(|d| d.pack()).collect();
        prop_assert_eq!(&packed[..], &bytes[..packed.len()]);
    }

    /// Control FIFO bytes: exactly the documented letters decode, in order; the rest is dropped.
    #[test]
    fn control_letters_from_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let letters: Vec<u8> = bytes.iter().copied().filter(|b| letter::Letter::from_byte(*b).is_some()).collect();
        let documented = letter::SUPERVISOR_LETTERS.as_bytes();
        let expected: Vec<u8> = bytes.iter().copied().filter(|b| documented.contains(b)).collect();
        prop_assert_eq!(letters, expected);
        for byte in bytes {
            prop_assert_eq!(letter::ScanLetter::from_byte(byte).is_some(), b"zabhitqnN".contains(&byte));
        }
    }

    /// Tain: any 12 bytes convert and compare without panicking; the text form of any string
    /// parses only as `@` and 24 hex digits, and round-trips.
    #[test]
    fn tain_from_any_bytes(a in any::<[u8; 12]>(), b in any::<[u8; 12]>(), text in garbage_line()) {
        let (a, b) = (Tain::unpack(&a), Tain::unpack(&b));
        let _ = (a.to_system(), a.seconds_until(b), b.seconds_until(a));
        let (forward, backward) = (a.duration_until(b), b.duration_until(a));
        prop_assert!(forward.is_zero() || backward.is_zero());
        prop_assert_eq!(Tain::parse_text(&a.to_text()), Some(a));
        if let Some(parsed) = Tain::parse_text(&text) {
            prop_assert_eq!(parsed.to_text(), text.to_ascii_lowercase());
        }
    }

    /// Signal names: any text parses or not without panicking; every name s6 prints reads back.
    #[test]
    fn signal_names(text in garbage_line(), number in any::<i32>()) {
        let _ = signame::parse(&text);
        let name = signame::name(number);
        if let Some(signal) = signame::parse(&name) {
            prop_assert_eq!(signal as i32, number);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The event fifodir.

proptest! {
    #![proptest_config(config(24))]

    /// Names in a fifodir: listeners are exactly `ftrig1:@` names of 39 bytes; a notify over a
    /// directory of garbage entries reaches the real listener, once, without blocking.
    #[test]
    fn fifodir_garbage_entries_do_not_stop_a_notify(
        names in proptest::collection::vec("[a-zA-Z0-9:@._-]{1,50}", 0..8),
        event in proptest::collection::vec(any::<u8>(), 1..64),
    ) {
        for name in &names {
            prop_assert_eq!(fifodir::is_listener(name.as_bytes()), name.len() == 39 && name.starts_with("ftrig1:@"));
        }
        let dir = TempDir::new("fifodir");
        for name in names.iter().filter(|n| !fifodir::is_listener(n.as_bytes()) && !n.starts_with('.')) {
            // Garbage beside the listeners: files and directories that are not one.
            if name.len() % 2 == 0 {
                let _ = std::fs::write(dir.0.join(name), b"x");
            } else {
                let _ = std::fs::create_dir(dir.0.join(name));
            }
        }
        let subscription = fifodir::Subscription::new(&dir.0).unwrap();
        let path = dir.0.clone();
        let sent = event.clone();
        within(move || fifodir::notify(&path, &sent)).unwrap();
        prop_assert_eq!(subscription.read().unwrap(), event);
    }
}

// ---------------------------------------------------------------------------------------------
// modules.dep and mountinfo.

/// A `modules.dep` line that is an entry: a module path and its dependencies.
fn module_line() -> impl Strategy<Value = (String, Vec<String>)> {
    let file = "kernel/[a-z]{1,8}/[a-z0-9_-]{1,12}\\.ko(\\.xz)?";
    (file, proptest::collection::vec(file, 0..4))
}

/// A mount point as the kernel could list it: any bytes but NUL, `/` first.
fn mount_point() -> impl Strategy<Value = String> {
    "/[^\0]{0,30}"
}

/// The kernel's escaping of a mount point in mountinfo: space, tab, newline, backslash.
fn escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        match c {
            ' ' | '\t' | '\n' | '\\' => out.push_str(&format!("\\{:03o}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

proptest! {
    #![proptest_config(config(128))]

    /// `modules.dep`: every good line is read, in order, whatever lines are between them; no
    /// more entries than lines.
    #[test]
    fn modules_dep_keeps_every_good_line(
        lines in mixed(module_line(), 30),
    ) {
        let text = text_of(&lines, |(file, deps)| format!("{file}: {}\n", deps.join(" ")));
        let parsed = within({
            let text = text.clone();
            move || {
                let owned = |(file, deps): modules_dep::Line| {
                    (file.to_string(), deps.iter().map(|d| d.to_string()).collect::<Vec<_>>())
                };
                modules_dep::parse(&text).into_iter().map(owned).collect::<Vec<_>>()
            }
        });
        prop_assert!(parsed.len() <= text.lines().count());
        let mut rest = parsed.iter();
        for (file, deps) in lines.iter().filter_map(|l| l.as_ref().ok()) {
            prop_assert!(rest.any(|(f, d)| f == file && d == deps), "{file} lost from {text:?}");
            let _ = modules_dep::name_of(file);
        }
    }

    /// mountinfo: any text (escapes of every kind included) without a panic, one mount point a
    /// line at most; every good line's mount point comes back decoded, in order.
    #[test]
    fn mountinfo_keeps_every_good_line(
        lines in mixed(mount_point(), 30),
        escapes in "(\\\\[0-9]{0,4}|[^\\\\]){0,20}",
    ) {
        let text = text_of(&lines, |point| {
            format!("36 35 98:0 / {} rw,noatime master:1 - ext3 /dev/root rw\n", escape(point))
        });
        let _ = within(move || mountinfo::unescape(&escapes));
        let points = within({
            let text = text.clone();
            move || mountinfo::mount_points(&text)
        });
        prop_assert!(points.len() <= text.lines().count());
        let mut rest = points.iter();
        for point in lines.iter().filter_map(|l| l.as_ref().ok()) {
            prop_assert!(rest.any(|p| p == point), "{point:?} lost from {text:?}: {points:?}");
        }
    }
}

/// A boot timeline line that is good.
fn timeline_entry() -> impl Strategy<Value = timeline::Entry> {
    let time = (0u32..10_000_000).prop_map(|t| f64::from(t) / 1000.0);
    (
        "good-[a-z]{1,8}",
        prop::sample::select(vec!["longrun", "oneshot"]),
        time.clone(),
        proptest::option::of(time.clone()),
        proptest::option::of(time),
        prop::sample::select(vec!["ok", "failed exit 3", "timeout", "skipped"]),
        proptest::collection::vec("[a-z]{1,6}", 0..3),
    )
        .prop_map(|(name, kind, asked, started, ready, result, dependencies)| timeline::Entry {
            name,
            kind: kind.into(),
            asked,
            started,
            ready,
            result: result.into(),
            dependencies,
        })
}

proptest! {
    #![proptest_config(config(128))]

    /// The boot timeline skips lines that do not parse: every good entry is read (the last
    /// line of a name wins), whatever lines are between them; no more entries than lines.
    #[test]
    fn timeline_keeps_every_good_entry(
        lines in mixed(timeline_entry(), 30),
    ) {
        let text = text_of(&lines, timeline::Entry::to_line);
        let entries = within({
            let text = text.clone();
            move || timeline::parse(&text)
        });
        prop_assert!(entries.len() <= text.lines().count());
        for (index, entry) in lines.iter().enumerate().filter_map(|(i, l)| Some((i, l.as_ref().ok()?))) {
            let replaced = lines[index + 1..].iter().any(|l| matches!(l, Ok(e) if e.name == entry.name));
            if !replaced {
                prop_assert!(entries.contains(entry), "{entry:?} lost: {entries:?}");
            }
        }
    }
}

/// The inputs that broke a parser once, kept as plain tests.
#[test]
fn found_by_the_properties() {
    // An escape above \377 overflowed a u8 (a panic in debug builds, a wrong byte in release).
    assert_eq!(mountinfo::unescape("/a\\777b"), "/a\\777b");
    assert_eq!(mountinfo::mount_points("1 2 3 4 /\\400 rw\n"), ["/\\400"]);
    // Nanoseconds past 10^9 in a status file's stamp made Duration::new overflow or go
    // backwards.
    let odd = Tain { secs: u64::MAX, nanos: u32::MAX };
    assert_eq!(Tain { secs: 0, nanos: 0 }.duration_until(odd).as_secs(), u64::MAX);
    // A label past what a SystemTime holds panicked in the addition.
    assert!(Tain { secs: u64::MAX, nanos: 0 }.to_system() > std::time::SystemTime::now());
    let late_nanos = Tain { secs: 5, nanos: 3_000_000_000 };
    assert_eq!(late_nanos.duration_until(Tain { secs: 6, nanos: 0 }), Duration::from_nanos(1));
}

//! Property tests of the privilege files a supervisor reads from a service directory (issue
//! 15): `limits`, `capabilities`, environment directories and files, and the whole
//! declaration (`user`, `umask`, `*-directory`…). Arbitrary bytes and good entries mixed with
//! garbage; checked: no panic, no hang (2 s a case), output bounded by the input, errors naming
//! the file (and line) with the fix, good entries kept where the format skips bad lines. Also
//! the `notify-socket` datagrams a service sends its supervisor.
//! (`ostler-pipes` is private to the scanner: its properties are in `src/scan/pipes/`.)

use ostler_supervise::privileges::{caps, envdir, limits, Declared};
use ostler_supervise::supervisor::notify;
use proptest::prelude::*;
use std::path::PathBuf;

#[path = "../../tests/util/properties.rs"]
mod common;
use common::*;

/// Lines that are not entries: arbitrary text, huge numbers, NULs, control bytes, very long.
fn garbage_line() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,40}",
        "[a-z]{1,8} [0-9]{15,40}(:[0-9]{1,30})?",
        Just("\0\0\0".to_string()),
        Just("nofile -1".to_string()),
        (1usize..6000).prop_map(|n| "x".repeat(n)),
    ]
    .prop_map(|line| line.replace('\n', " "))
}

/// A `limits` line that is good, with what it sets.
fn good_limit() -> impl Strategy<Value = (String, limits::Limit)> {
    (prop::sample::select(limits::NAMES.to_vec()), 0u64..1 << 20, 0u64..1 << 20, any::<bool>()).prop_map(
        |((name, resource), a, b, one)| {
            let (soft, hard) = if one { (a, a) } else { (a.min(b), a.max(b)) };
            let text =
                if one { format!("{name} {a}") } else { format!("  {} {soft}:{hard}  # ok", name.to_uppercase()) };
            (text, limits::Limit { resource, soft: Some(soft), hard: Some(hard) })
        },
    )
}

proptest! {
    #![proptest_config(config(128))]

    /// `limits` is refused whole on a bad line (the supervisor must not start a service with
    /// limits other than declared): all good lines read in order; otherwise the error names a
    /// line that is not a good one, and how to write it.
    #[test]
    fn limits_file_good_lines_or_the_bad_line_named(
        lines in proptest::collection::vec(
            prop_oneof![3 => good_limit().prop_map(Ok), 1 => garbage_line().prop_map(Err)],
            0..20,
        ),
    ) {
        let text: String = lines
            .iter()
            .map(|l| match l {
                Ok((text, _)) => format!("{text}\n"),
                Err(garbage) => format!("{garbage}\n"),
            })
            .collect();
        let parsed = within({
            let text = text.clone();
            move || limits::parse_file(&text)
        });
        match parsed {
            Ok(read) => {
                prop_assert!(read.len() <= text.lines().count());
                let mut rest = read.iter();
                for (line, limit) in lines.iter().filter_map(|l| l.as_ref().ok()) {
                    prop_assert!(rest.any(|r| r == limit), "{line:?} lost: {read:?}");
                }
            }
            Err(message) => {
                let number: usize = message
                    .strip_prefix("line ")
                    .and_then(|m| m.split(':').next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                prop_assert!((1..=lines.len()).contains(&number), "{message}");
                prop_assert!(lines[number - 1].is_err(), "good line {number} blamed: {message}");
                let says_how = ['`', ';'].iter().any(|c| message.contains(*c)) || message.contains("above the hard");
                prop_assert!(says_how, "{message}");
            }
        }
    }

    /// `capabilities`: good names (any case, prefix or not) give exactly their bits; one word
    /// that is no capability refuses the file, naming the word.
    #[test]
    fn capabilities_good_names_or_the_bad_word_named(
        picks in proptest::collection::vec(prop::sample::select(caps::names(caps::all())), 0..8),
        upper in any::<bool>(),
        garbage in proptest::option::of("[a-zA-Z_0-9~\u{e9}-]{1,20}"),
    ) {
        let written =
            |name: &String| if upper { name.to_uppercase() } else { name.trim_start_matches("cap_").to_string() };
        let mut words: Vec<String> = picks.iter().map(written).collect();
        let expected = picks.iter().fold(0u64, |mask, name| mask | caps::parse(name).unwrap());
        if let Some(word) = &garbage {
            words.insert(words.len() / 2, word.clone());
        }
        let text = words.join(" \t");
        match caps::parse(&text) {
            Ok(mask) => {
                prop_assert_eq!(mask & !caps::all(), 0);
                if garbage.is_none() {
                    prop_assert_eq!(mask, expected);
                }
            }
            Err(message) => {
                let word = garbage.expect("good names refused");
                // A leading `~` inverts the set: the word named is what follows it.
                let first = words[0] == word;
                let named = format!("{:?}", if first { word.strip_prefix('~').unwrap_or(&word) } else { &word });
                prop_assert!(message.contains(&named), "{message}");
                prop_assert!(message.contains("capabilities(7)"), "{message}");
            }
        }
    }

    /// An environment directory's file, any bytes, each mode: a value no longer than the file,
    /// with no NUL (an `environ` entry cannot hold one).
    #[test]
    fn envdir_value_any_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        verbatim in any::<bool>(),
        no_chomp in any::<bool>(),
    ) {
        let value = envdir::value(&bytes, envdir::Mode { verbatim, no_chomp });
        prop_assert_eq!(value.is_none(), bytes.is_empty());
        if let Some(value) = value {
            prop_assert!(value.len() <= bytes.len());
            prop_assert!(!value.contains(&0));
        }
    }
}

/// An `environment-file` line that is good: a key and its value, written plain or quoted.
fn good_assignment() -> impl Strategy<Value = (String, String, String)> {
    ("[A-Z_][A-Z0-9_]{0,10}", "([a-z0-9/.:]([a-z0-9/.: ]{0,8}[a-z0-9/.:])?)?", 0..4usize).prop_map(
        |(key, value, how)| {
            let line = match how {
                0 => format!("{key}={value}"),
                1 => format!("export {key}=\"{value}\""),
                2 => format!("  {key} = '{value}'  "),
                _ => format!("{key}=\"{value}\""),
            };
            (line, key, value)
        },
    )
}

proptest! {
    #![proptest_config(config(64))]

    /// Environment files skip what they cannot read: every good assignment is there, in order,
    /// whatever lines are between them; a file that is not UTF-8 is refused as invalid data.
    #[test]
    fn environment_file_keeps_every_good_line(
        lines in mixed(good_assignment(), 20),
        raw in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..100)),
    ) {
        let dir = TempDir::new("envfile");
        let path = dir.0.join("defaults");
        let mut text = text_of(&lines, |(line, _, _)| format!("{line}\n")).into_bytes();
        if let Some(raw) = &raw {
            text.extend_from_slice(raw);
        }
        std::fs::write(&path, &text).unwrap();
        let read = within({
            let path = path.clone();
            move || envdir::read_environment_file(&path)
        });
        match read {
            Ok(changes) => {
                prop_assert!(changes.len() <= text.split(|&b| b == b'\n').count());
                let mut rest = changes.iter();
                for (line, key, value) in lines.iter().filter_map(|l| l.as_ref().ok()) {
                    let found = rest.any(|(k, v)| {
                        k.to_str() == Some(key) && v.as_deref().and_then(|v| v.to_str()) == Some(value)
                    });
                    prop_assert!(found, "{line:?} lost: {changes:?}");
                }
            }
            Err(e) => {
                prop_assert!(std::str::from_utf8(&text).is_err(), "{e}");
                prop_assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
            }
        }
    }
}

/// The privilege files with a good value each, and a check that the value was read.
#[allow(clippy::type_complexity)]
const GOOD_PRIVILEGES: &[(&str, &str, fn(&Declared) -> bool)] = &[
    ("user", "www-data\n", |d| d.user.as_deref() == Some("www-data")),
    ("groups", "adm  wheel\n", |d| d.groups == ["adm", "wheel"]),
    ("capabilities", "cap_net_bind_service CAP_SETUID\n", |d| d.bounding == Some(1 << 10 | 1 << 7)),
    ("ambient-capabilities", "net_bind_service", |d| d.ambient == 1 << 10),
    ("limits", "# for nginx\nnofile 1024:4096\ncore infinity\n", |d| d.limits.len() == 2),
    ("environment-file", "-/etc/default/x\n# c\n/etc/y\n", |d| {
        d.environment_files == [(PathBuf::from("/etc/default/x"), true), (PathBuf::from("/etc/y"), false)]
    }),
    ("working-directory", "/srv/www\n", |d| d.working_directory == Some(PathBuf::from("/srv/www"))),
    ("umask", "027\n", |d| d.umask == Some(0o027)),
    ("runtime-directory", "nginx 0750\n", |d| d.directories.contains(&("/run", "nginx".into(), 0o750))),
    ("state-directory", "# none yet\n", |_| true),
];

/// Privilege file contents: bytes (invalid UTF-8, NULs), text garbage, too long.
fn garbage_file() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        garbage_line().prop_map(String::into_bytes),
        (4097usize..6000).prop_map(|n| vec![b'a'; n]),
    ]
}

proptest! {
    #![proptest_config(config(48))]

    /// The whole declaration: a bad file refuses it (never starting with more privileges than
    /// declared), and the refusal names that file — never a good one — with what to do; when
    /// it is accepted, every good file's value is there.
    #[test]
    fn declaration_refuses_with_the_bad_file_named(
        choices in proptest::collection::vec(proptest::option::weighted(0.2, garbage_file()), GOOD_PRIVILEGES.len()),
    ) {
        let dir = TempDir::new("declared");
        for ((name, good, _), garbage) in GOOD_PRIVILEGES.iter().zip(&choices) {
            std::fs::write(dir.0.join(name), garbage.clone().unwrap_or_else(|| good.as_bytes().to_vec())).unwrap();
        }
        let path = dir.0.clone();
        match within(move || Declared::load(&path)) {
            Ok(declared) => {
                let declared = declared.expect("files there, a declaration");
                for ((name, _, read), garbage) in GOOD_PRIVILEGES.iter().zip(&choices) {
                    prop_assert!(garbage.is_some() || read(&declared), "good {name} not read: {declared:?}");
                }
            }
            Err(refused) => {
                let name = refused.file.file_name().unwrap().to_str().unwrap().to_string();
                prop_assert_eq!(refused.file.parent(), Some(dir.0.as_path()));
                let index = GOOD_PRIVILEGES.iter().position(|(n, _, _)| *n == name).expect("a known file");
                // ambient-capabilities may be blamed for a garbage bounding set that lacks it.
                let blamed_fairly =
                    choices[index].is_some() || (name == "ambient-capabilities" && choices[2].is_some());
                prop_assert!(blamed_fairly, "good {name} blamed: {refused}");
                prop_assert!(!refused.message.is_empty());
                let prefix = format!("{}: ", refused.file.display());
                prop_assert!(refused.to_string().starts_with(&prefix), "{refused}");
            }
        }
    }
}

/// The chain-loading form of limits (`ostler limit -o 256`): any value, a number or a refusal.
#[test]
fn limit_flags_any_value() {
    for flag in "acdflmoprstxz".chars() {
        for value in ["=", "0", "18446744073709551615", "18446744073709551615K", "9G", "", "-1", "\u{e9}K", "infinity"]
        {
            let result = limits::from_flag(flag, value);
            assert!(result.is_ok() || result.unwrap_err().starts_with('-'), "-{flag} {value}");
        }
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// `notify-socket` datagrams: `READY=1` counts wherever it is among other lines, the last
    /// `STATUS=` wins, and nothing else is read.
    #[test]
    fn notify_datagram_lines(
        lines in proptest::collection::vec(prop_oneof![
            Just(b"READY=1".to_vec()),
            "STATUS=[ -~]{0,20}".prop_map(String::into_bytes),
            proptest::collection::vec(any::<u8>(), 0..40),
        ], 0..12),
    ) {
        let lines: Vec<Vec<u8>> = lines.into_iter().map(|l| l.into_iter().filter(|&b| b != b'\n').collect()).collect();
        let datagram = lines.join(&b'\n');
        let message = notify::parse(&datagram);
        prop_assert_eq!(message.ready, lines.iter().any(|l| l == b"READY=1"));
        let last_status = lines.iter().rev().find_map(|l| l.strip_prefix(b"STATUS="));
        prop_assert_eq!(message.status, last_status);
    }
}

/// An `environment-file` line naming a FIFO: read at each start by the supervisor (in PID 1's
/// scanner), a blocking open would wait for a writer that never comes.
#[test]
fn environment_file_that_is_a_fifo_is_refused_without_blocking() {
    let dir = TempDir::new("envfifo");
    let fifo = dir.0.join("defaults");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let error = within(move || envdir::read_environment_file(&fifo)).unwrap_err();
    assert!(error.to_string().contains("not a regular file"), "{error}");
    let missing = envdir::read_environment_file(&dir.0.join("missing")).unwrap_err();
    assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
}

//! Property tests of what the logger reads (issue 15): its script (directives and their
//! regular expressions), and what a killed logger left behind: the input journal's header
//! slots and a logdir's `current`, `previous`, `processed`, `state`. Checked: no panic, no hang
//! (2 s a case), output bounded by the input, errors naming the directive or file, and nothing
//! a crash left lost.

use ostler_log::journal::{self, Journal, DATA_START};
use ostler_log::logdir::{is_archive_name, Logdir};
use ostler_log::regex::{CLine, Regex};
use ostler_log::script::{LogdirSpec, Rotation, Step, Target};
use ostler_log::{Script, ScriptError, Verbosity};
use proptest::prelude::*;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

#[path = "../../tests/util/properties.rs"]
mod common;
use common::*;

// ---------------------------------------------------------------------------------------------
// The script.

/// A regular expression's text: ERE syntax with small repetitions, and arbitrary bytes. No
/// back-reference (`\1`): glibc matches those by backtracking, exponential in the line's
/// length (a cost of the C library, s6-log's too, and of the script's author; not of parsing),
/// and no large nested `{n}`, for the same reason.
fn pattern() -> impl Strategy<Value = Vec<u8>> {
    let no_back_reference = |p: &Vec<u8>| !p.windows(2).any(|w| w[0] == b'\\' && w[1].is_ascii_digit());
    prop_oneof![
        "([a-z().*+?|^$\\[\\]-]|\\\\[a-z.*+?()]|\\{[0-9](,[0-9]?)?\\}){0,20}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..20).prop_filter("a back-reference", no_back_reference),
    ]
}

/// A directive that is good, and whether it is a logdir.
fn good_directive() -> impl Strategy<Value = (Vec<u8>, bool)> {
    prop_oneof![
        "[+-][a-z]{1,6}(\\.\\*)?".prop_map(|d| (d.into_bytes(), false)),
        prop::sample::select(vec!["f", "t", "T", "1", "2", "n20", "s1000000", "S0", "r2000", "E400", "^1001", "l0"])
            .prop_map(|d| (d.as_bytes().to_vec(), false)),
        "p[a-z:]{0,8}".prop_map(|d| (d.into_bytes(), false)),
        "[!?][a-z ]{0,12}".prop_map(|d| (d.into_bytes(), false)),
        "=/run/[a-z]{1,8}/status".prop_map(|d| (d.into_bytes(), false)),
        "(\\./|/)[a-z]{1,8}(/[a-z]{1,8})?".prop_map(|d| (d.into_bytes(), true)),
    ]
}

proptest! {
    #![proptest_config(config(128))]

    /// Any directives: a script or an error naming a directive as written (the script is
    /// refused whole on a bad directive, as s6-log refuses it); never more steps than
    /// directives.
    #[test]
    fn script_any_directives(
        directives in proptest::collection::vec(prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..40),
            good_directive().prop_map(|d| d.0),
            (any::<u8>(), pattern()).prop_map(|(first, rest)| [vec![first], rest].concat()),
            "[nsSrlE^][0-9]{8,30}".prop_map(String::into_bytes),
            (1usize..5000).prop_map(|n| [b"+".to_vec(), vec![b'a'; n]].concat()),
        ], 0..12),
    ) {
        let written: Vec<String> = directives.iter().map(|d| String::from_utf8_lossy(d).into_owned()).collect();
        let parsed = within({
            use std::os::unix::ffi::OsStringExt;
            let directives: Vec<std::ffi::OsString> =
                directives.iter().map(|d| std::ffi::OsString::from_vec(d.clone())).collect();
            move || Script::parse(&directives).map(|s| (s.steps.len(), s.logdirs.len(), s.status_files.len()))
        });
        match parsed {
            Ok((steps, logdirs, status)) => prop_assert!(steps <= directives.len() && logdirs + status <= steps),
            Err(ScriptError::Unrecognized(directive)) | Err(ScriptError::Bad { directive, .. }) => {
                prop_assert!(written.contains(&directive), "{directive:?} is not one of {written:?}");
            }
            Err(ScriptError::NoAction) => {
                // Actions: 1, 2, =FILE and logdirs (`.` or `/` first); any of them valid.
                let action = |d: &Vec<u8>| d == b"1" || d == b"2" || matches!(d.first(), Some(b'=' | b'.' | b'/'));
                prop_assert!(!directives.iter().any(action), "{written:?}");
            }
        }
    }

    /// A script of good directives reads whole: each logdir, in order, as written.
    #[test]
    fn script_good_directives_all_kept(directives in proptest::collection::vec(good_directive(), 1..15)) {
        let mut texts: Vec<String> = directives.iter().map(|(d, _)| String::from_utf8(d.clone()).unwrap()).collect();
        texts.push("1".into());
        let script = Script::parse(&texts).unwrap_or_else(|e| panic!("{texts:?}: {e}"));
        let logdirs: Vec<PathBuf> = directives
            .iter()
            .filter(|d| d.1)
            .map(|(d, _)| PathBuf::from(String::from_utf8(d.clone()).unwrap()))
            .collect();
        prop_assert_eq!(script.logdirs.iter().map(|l| l.path.clone()).collect::<Vec<_>>(), logdirs);
        let acts = script.steps.iter().filter(|s| matches!(s, Step::Act(_))).count();
        prop_assert!(acts > script.logdirs.len());
        prop_assert!(matches!(script.steps.last(), Some(Step::Act(a)) if a.target == Target::Stdout));
    }

    /// Regular expressions: any pattern compiles or is refused with a reason; a compiled one
    /// matches any line without a hang.
    #[test]
    fn regex_any_pattern_any_line(pattern in pattern(), line in proptest::collection::vec(1u8.., 0..200)) {
        let matched = within(move || {
            let regex = match Regex::new(&pattern) {
                Ok(regex) => regex,
                Err(reason) => return Err(reason),
            };
            let mut c = CLine::default();
            Ok(regex.is_match(c.of(&line).expect("no NUL in the line")))
        });
        if let Err(reason) = matched {
            prop_assert!(!reason.is_empty());
        }
    }

    /// Archive names in a logdir: exactly `@`, 24 lowercase hex digits, `.s` or `.u`.
    #[test]
    fn archive_names(name in proptest::collection::vec(any::<u8>(), 0..40), stamp in "[0-9a-f]{24}", suffix in "[su]") {
        let _ = is_archive_name(&name);
        let good = format!("@{stamp}.{suffix}");
        prop_assert!(is_archive_name(good.as_bytes()), "{good}");
        // s6-log writes lowercase hex: an uppercase letter is not its archive.
        let upper = good.to_uppercase().replace(".S", ".s").replace(".U", ".u");
        prop_assert_eq!(is_archive_name(upper.as_bytes()), upper == good);
        prop_assert!(!is_archive_name(&good.as_bytes()[1..]));
    }
}

// ---------------------------------------------------------------------------------------------
// The journal after a crash.

const SLOT: usize = 4096;

/// A header slot as the logger writes it (docs in journal.rs): magic, sequence, start,
/// valid end, mark count, marks, FNV-1a checksum.
fn header(seq: u64, start: u64, valid_end: u64, marks: &[(u64, u64, u64)]) -> Vec<u8> {
    let mut out = b"OSTLRJ01".to_vec();
    for value in [seq, start, valid_end] {
        out.extend_from_slice(&value.to_le_bytes());
    }
    out.extend_from_slice(&(marks.len() as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    for (dev, ino, size) in marks {
        for value in [dev, ino, size] {
            out.extend_from_slice(&value.to_le_bytes());
        }
    }
    let sum = out.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    out.extend_from_slice(&sum.to_le_bytes());
    out.resize(SLOT, 0);
    out
}

/// What a crash can leave in one slot: a whole header with any values (huge ones too), a torn
/// one, or bytes.
fn slot() -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![any::<u64>(), 0u64..3 * DATA_START, Just(u64::MAX)];
    let marks = proptest::collection::vec((any::<u64>(), any::<u64>(), any::<u64>()), 0..4);
    prop_oneof![
        (value.clone(), value.clone(), value, marks)
            .prop_map(|(seq, start, end, marks)| header(seq, start, end, &marks)),
        (any::<u64>(), 0..3 * DATA_START, 1usize..SLOT).prop_map(|(seq, start, torn)| {
            let mut whole = header(seq, start, 0, &[]);
            whole[torn..].fill(0);
            whole
        }),
        proptest::collection::vec(any::<u8>(), SLOT..=SLOT),
    ]
}

proptest! {
    #![proptest_config(config(64))]

    /// Any journal file: it opens, it never grows past what was there (nor allocates for more),
    /// and the unprocessed part is a run of the data's bytes that ends at the file's end, or at
    /// a header's `valid_end` (the cut of a compaction the open finishes).
    #[test]
    fn journal_opens_whatever_a_crash_left(
        slots in proptest::collection::vec(slot(), 0..=2),
        data in proptest::collection::vec(any::<u8>(), 0..3000),
        cut in any::<prop::sample::Index>(),
    ) {
        let dir = TempDir::new("journal");
        let path = dir.0.join(journal::FILE_NAME);
        let mut bytes: Vec<u8> = slots.concat();
        if slots.len() == 2 {
            bytes.extend_from_slice(&data);
        }
        // A crash can leave the file cut anywhere.
        if !bytes.is_empty() && cut.index(4) == 0 {
            bytes.truncate(cut.index(bytes.len()));
        }
        std::fs::write(&path, &bytes).unwrap();
        let before = bytes.len() as u64;
        let opened = within({
            let dir = dir.0.clone();
            move || {
                let (journal, recovered) = Journal::open(&dir)?;
                let mut unprocessed = Vec::new();
                let path = journal.path().to_path_buf();
                journal.read_unprocessed(&mut unprocessed).map_err(|e| ostler_log::LogError::io("read", path, e))?;
                Ok::<_, ostler_log::LogError>((unprocessed, recovered.marks.len()))
            }
        });
        let (unprocessed, marks) = opened.unwrap_or_else(|e| panic!("{e}"));
        let after = std::fs::metadata(&path).unwrap().len();
        prop_assert!(after <= before.max(DATA_START), "the journal grew from {before} to {after} bytes");
        prop_assert!(unprocessed.len() as u64 <= before.saturating_sub(DATA_START));
        prop_assert!(marks <= journal::MAX_MARKS);
        let valid_ends = (0..2).filter_map(|i| bytes.get(i * SLOT + 24..i * SLOT + 32)).map(|b| {
            u64::from_le_bytes(b.try_into().unwrap())
        });
        let kept_up_to = |end: u64| {
            end <= bytes.len() as u64
                && end >= DATA_START + unprocessed.len() as u64
                && bytes[..end as usize].ends_with(&unprocessed)
        };
        prop_assert!(
            bytes.len() < DATA_START as usize || std::iter::once(bytes.len() as u64).chain(valid_ends).any(kept_up_to),
            "{} unprocessed bytes are not the data's up to its end or a valid_end", unprocessed.len()
        );
    }

    /// A journal cut by a crash keeps its data: one header (start inside the data), the other
    /// slot torn (within its 48 bytes); every byte after start is still to process.
    #[test]
    fn journal_keeps_data_after_a_torn_header(
        seq in 0u64..1 << 40,
        data in proptest::collection::vec(any::<u8>(), 1..3000),
        start in any::<prop::sample::Index>(),
        torn in 1usize..48,
    ) {
        let dir = TempDir::new("journal-torn");
        let start = start.index(data.len() + 1);
        let whole = header(seq + 1, DATA_START + start as u64, 0, &[]);
        let mut newer = whole.clone();
        newer[torn..].fill(0);
        // Zeros over bytes that were zeros already tear nothing (a checksum may end in 0).
        prop_assume!(newer != whole);
        let mut slots = [header(seq, DATA_START + start as u64, 0, &[(1, 2, 3)]), newer];
        if seq % 2 == 1 {
            slots.swap(0, 1);
        }
        std::fs::write(dir.0.join(journal::FILE_NAME), [&slots.concat()[..], &data].concat()).unwrap();
        let (journal, recovered) = Journal::open(&dir.0).unwrap();
        let mut unprocessed = Vec::new();
        journal.read_unprocessed(&mut unprocessed).unwrap();
        prop_assert_eq!(&unprocessed[..], &data[start..]);
        prop_assert_eq!(recovered.marks.len(), 1);
    }
}

// ---------------------------------------------------------------------------------------------
// A logdir after a crash.

/// What a crash can leave under one name: nothing, a file of any bytes with or without the
/// owner-execute bit (the commit marker), or a directory.
#[derive(Clone, Debug)]
enum Left {
    Nothing,
    File(Vec<u8>, bool),
    Directory,
}

fn left() -> impl Strategy<Value = Left> {
    prop_oneof![
        2 => Just(Left::Nothing),
        6 => (proptest::collection::vec(any::<u8>(), 0..500), any::<bool>()).prop_map(|(b, done)| Left::File(b, done)),
        1 => Just(Left::Directory),
    ]
}

fn leave(path: &std::path::Path, what: &Left) {
    match what {
        Left::Nothing => {}
        Left::File(bytes, done) => {
            std::fs::write(path, bytes).unwrap();
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(if *done { 0o744 } else { 0o644 })).unwrap();
        }
        Left::Directory => std::fs::create_dir(path).unwrap(),
    }
}

proptest! {
    #![proptest_config(config(48))]

    /// Whatever a killed logger left, the next one starts (or says which file stops it), and
    /// every byte the old `current` held is still in the logdir: in `current`, or archived.
    #[test]
    fn logdir_salvage_loses_nothing(
        current in left(),
        others in proptest::collection::vec(left(), 4),
        archives in proptest::collection::vec(
            ("[0-9a-f]{24}", "[su]", proptest::collection::vec(any::<u8>(), 0..50)),
            0..5,
        ),
    ) {
        let dir = TempDir::new("logdir");
        let logdir = dir.0.join("log");
        std::fs::create_dir(&logdir).unwrap();
        leave(&logdir.join("current"), &current);
        for (name, what) in ["previous", "processed", "state", "newstate"].iter().zip(&others) {
            leave(&logdir.join(name), what);
        }
        for (stamp, suffix, bytes) in &archives {
            std::fs::write(logdir.join(format!("@{stamp}.{suffix}")), bytes).unwrap();
        }
        let spec = LogdirSpec { path: logdir.clone(), rotation: Rotation::default(), processor: None };
        let started = within(move || {
            let mut logdir = Logdir::lock(spec, Verbosity::Quiet)?;
            logdir.start()
        });
        let blocked_by_a_directory =
            matches!(current, Left::Directory) || others.iter().any(|o| matches!(o, Left::Directory));
        match started {
            Ok(()) => {
                if let Left::File(bytes, _) = &current {
                    let mut kept = vec![std::fs::read(logdir.join("current")).unwrap()];
                    for entry in std::fs::read_dir(&logdir).unwrap() {
                        let entry = entry.unwrap();
                        if is_archive_name(entry.file_name().as_encoded_bytes()) {
                            kept.push(std::fs::read(entry.path()).unwrap());
                        }
                    }
                    prop_assert!(kept.iter().any(|k| k.starts_with(bytes)), "current's {} bytes lost", bytes.len());
                }
            }
            Err(e) => {
                prop_assert!(blocked_by_a_directory, "{e}");
                prop_assert!(e.to_string().contains(&logdir.display().to_string()), "{e}");
            }
        }
    }
}

/// A compaction cut left to finish: the newest header's `valid_end` lies inside the data (here
/// with the largest sequence number, beside a torn newer-looking slot). The open cuts the file
/// there, and what the compaction had moved to the front is what is left to process: the data
/// up to `valid_end`, not its tail (the property expected the tail until CI found this).
#[test]
fn journal_finishes_a_compaction_cut_inside_the_data() {
    let dir = TempDir::new("journal-cut");
    let path = dir.0.join(journal::FILE_NAME);
    let data: Vec<u8> = (0..2470u32).map(|i| i as u8).collect();
    let mut torn = header(0, 4, 1, &[]);
    torn[40..].fill(0xa5);
    std::fs::write(&path, [header(u64::MAX, 0, DATA_START + 1, &[]), torn, data.clone()].concat()).unwrap();
    let (journal, _) = Journal::open(&dir.0).unwrap();
    let mut unprocessed = Vec::new();
    journal.read_unprocessed(&mut unprocessed).unwrap();
    assert_eq!(unprocessed, &data[..1]);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), DATA_START + 1);
}

/// The journals that broke `Journal::open`, kept as plain tests.
#[test]
fn journal_found_by_the_properties() {
    for (seq, valid_end) in [(1, u64::MAX), (1, 3 * DATA_START), (u64::MAX, 0)] {
        let dir = TempDir::new("journal-found");
        let path = dir.0.join(journal::FILE_NAME);
        std::fs::write(&path, [header(seq, DATA_START, valid_end, &[]), vec![0; SLOT], b"line\n".to_vec()].concat())
            .unwrap();
        // valid_end past 2^63 failed the truncation (the logger could never start again); past
        // the end, it grew the file; a sequence of u64::MAX overflowed on the next header.
        let (journal, _) = Journal::open(&dir.0).unwrap_or_else(|e| panic!("{seq} {valid_end}: {e}"));
        assert_eq!(journal.unprocessed(), 5);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), DATA_START + 5);
    }
}

//! Property tests of what the service manager reads from definition directories (issue 15):
//! `type`, `dependencies`, `contents` and the other name lists, execline `up`/`down` scripts,
//! whole definition directories through the checked model, systemd unit files, and s6-rc's
//! command words. Arbitrary bytes and good entries mixed with garbage; checked: no panic, no
//! hang (2 s a case), output bounded by the input, problems naming the file (and line) with
//! the fix, and every good definition kept when others beside it are broken.

use ostler_rc::execline::{self, Wrong};
use ostler_rc::model::{Db, Kind, Level};
use ostler_rc::source;
use ostler_rc::unit::parse as unit_file;
use proptest::prelude::*;
use std::path::Path;

#[path = "../../tests/util/properties.rs"]
mod common;
use common::*;

// ---------------------------------------------------------------------------------------------
// execline.

/// Script bytes with execline's special characters dense: braces, quotes, backslashes, `#`,
/// digits for numeric escapes, blanks, NULs.
fn execline_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        proptest::collection::vec(prop::sample::select(b"{}\"\\#0x9a \n\t\0".to_vec()), 0..200),
    ]
}

/// The blocks of execline's encoding, deepest allowed and one too deep.
const MAX_DEPTH: usize = execline::MAX_DEPTH;

proptest! {
    #![proptest_config(config(256))]

    /// Any bytes: an argv or an error on a line of the script; never more words than bytes,
    /// and never more bytes than the script's times the deepest block (execline's encoding
    /// repeats a block's depth in spaces before each word).
    #[test]
    fn execline_any_bytes(script in execline_bytes()) {
        let lines = script.iter().filter(|&&b| b == b'\n').count() + 1;
        let lexed = within({
            let script = script.clone();
            move || execline::lex(&script)
        });
        match lexed {
            Ok(argv) => {
                prop_assert!(argv.len() <= script.len());
                let bytes: usize = argv.iter().map(Vec::len).sum();
                prop_assert!(bytes <= (script.len() + 1) * (MAX_DEPTH + 1), "{bytes} bytes from {}", script.len());
            }
            Err(error) => {
                prop_assert!((1..=lines).contains(&error.line), "{error:?} in {lines} lines");
                prop_assert!(error.to_string().contains(&format!("line {}", error.line)), "{error}");
            }
        }
    }

    /// Good command lines between comment lines and blank lines of any kind: the argv is
    /// exactly their words.
    #[test]
    fn execline_keeps_every_word_between_comments(
        lines in proptest::collection::vec(prop_oneof![
            proptest::collection::vec("[a-zA-Z0-9/._=-]{1,12}", 1..6).prop_map(Ok),
            "[^\n\0]{0,40}".prop_map(Err),
        ], 0..20),
    ) {
        let script: String = lines.iter().map(|l| match l {
            Ok(words) => format!(" {}\t\n", words.join(" ")),
            Err(comment) => format!("#{comment}\n"),
        }).collect();
        let expected: Vec<Vec<u8>> =
            lines.iter().filter_map(|l| l.as_ref().ok()).flatten().map(|w| w.clone().into_bytes()).collect();
        prop_assert_eq!(execline::lex(script.as_bytes()), Ok(expected));
    }

    /// Blocks nested `depth` deep around `width` words: lexed in execline's encoding up to the
    /// deepest block allowed, refused past it with the line of the block too deep.
    #[test]
    fn execline_deep_blocks(depth in 0usize..2 * MAX_DEPTH, width in 1usize..50) {
        let script = format!("{}{}{}", "{\n".repeat(depth), "word ".repeat(width), " }".repeat(depth));
        let lexed = within(move || execline::lex(script.as_bytes()));
        if depth <= MAX_DEPTH {
            let argv = lexed.unwrap_or_else(|e| panic!("{e}"));
            prop_assert_eq!(argv.len(), width + depth);
            prop_assert_eq!(argv[0].len(), depth + 4);
        } else {
            let error = lexed.unwrap_err();
            prop_assert_eq!(error.what, Wrong::Deep);
            prop_assert_eq!(error.line, MAX_DEPTH + 1);
        }
    }
}

/// The input that broke the lexer's memory bound: a megabyte of blocks, each word repeating
/// the depth (quadratic: tens of gigabytes).
#[test]
fn execline_deep_nesting_is_refused_not_allocated() {
    let depth = 200_000;
    let script = format!("{}{}{}", "{ ".repeat(depth), "x ".repeat(depth), "} ".repeat(depth));
    let error = within(move || execline::lex(script.as_bytes())).unwrap_err();
    assert_eq!(error.what, Wrong::Deep);
    assert!(error.to_string().contains("deeper than"), "{error}");
}

// ---------------------------------------------------------------------------------------------
// Name lists and `type`.

proptest! {
    #![proptest_config(config(128))]

    /// `type`: exactly the three words, with at most one final newline, from any bytes.
    #[test]
    fn type_word_any_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..20),
        word in prop::sample::select(vec!["longrun", "oneshot", "bundle"]),
    ) {
        if let Some(found) = source::type_word(&bytes) {
            // s6-rc-compile reads 8 bytes and drops one final newline.
            let head = &bytes[..bytes.len().min(8)];
            prop_assert!(head == found.as_bytes() || head == format!("{found}\n").as_bytes(), "{bytes:?}");
        }
        prop_assert_eq!(source::type_word(word.as_bytes()), Some(word));
        prop_assert_eq!(source::type_word(format!("{word}\n").as_bytes()), Some(word));
    }

    /// `dependencies`, `contents`…: every good name is read, once, in order, whatever lines
    /// are between them; never more names than lines.
    #[test]
    fn names_keep_every_good_name(
        lines in proptest::collection::vec(prop_oneof![
            "[a-z][a-z0-9_.-]{0,15}".prop_map(Ok),
            prop_oneof![garbage_line(), "[ \t]*#[^\n]{0,20}", "[ \t]{0,3}"].prop_map(Err),
        ], 0..40),
    ) {
        let text: String = lines
            .iter()
            .map(|l| match l {
                Ok(name) => format!("\t {name}\n"),
                Err(garbage) => format!("{garbage}\n"),
            })
            .collect();
        let names = within({
            let text = text.clone();
            move || source::names_in(&text)
        });
        prop_assert!(names.len() <= text.split('\n').count());
        for name in lines.iter().filter_map(|l| l.as_ref().ok()) {
            prop_assert_eq!(names.iter().filter(|n| *n == name).count(), 1, "{} in {:?}", name, names);
        }
    }
}

/// A list file of many different names reads in linear time (the duplicate check was a scan
/// of every name so far: 100 000 names, 5·10⁹ comparisons).
#[test]
fn names_many_lines_without_a_hang() {
    let text: String = (0..100_000).map(|n| format!("service-{n}\n")).collect();
    let names = within(move || source::names_in(&text));
    assert_eq!(names.len(), 100_000);
}

// ---------------------------------------------------------------------------------------------
// Whole definition directories.

/// A definition that is good: its name, kind, and files.
fn good_definition() -> impl Strategy<Value = (Kind, Vec<(&'static str, String)>)> {
    prop_oneof![
        Just((
            Kind::Longrun,
            vec![("type", "longrun\n".to_string()), ("run", "#!/bin/sh\nexec sleep 1\n".to_string())]
        )),
        "[a-z]{1,8}( [a-z]{1,8}){0,3}".prop_map(|words| {
            (
                Kind::Oneshot,
                vec![
                    ("type", "oneshot".to_string()),
                    ("up", format!("#!/bin/execlineb -P\nforeground {{ {words} }}\n")),
                ],
            )
        }),
        Just((Kind::Bundle, vec![("type", "bundle\n".to_string()), ("contents", "# none yet\n".to_string())])),
    ]
}

/// A definition that is broken (or may be): any of the files with any bytes.
fn garbage_definition() -> impl Strategy<Value = Vec<(&'static str, Vec<u8>)>> {
    let file = prop::sample::select(vec![
        "type",
        "dependencies",
        "contents",
        "up",
        "down",
        "timeout-up",
        "timeout-down",
        "run",
        "log",
        "flag-essential",
    ]);
    let bytes = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..100),
        garbage_line().prop_map(String::into_bytes),
        prop::sample::select(vec![
            "longrun",
            "oneshot",
            "bundle\n",
            "Longrun",
            "longrun ",
            "junk-a\njunk-b\n",
            "good-a\n",
            "99999999999999999999"
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        execline_bytes(),
    ];
    proptest::collection::vec((file, bytes), 0..6)
}

proptest! {
    #![proptest_config(config(32))]

    /// Good definitions beside broken ones are all in the model, with their kind; every
    /// problem names a file of the definitions (or says what was left out and why).
    #[test]
    fn model_keeps_every_good_definition(
        good in proptest::collection::btree_map("good-[a-z]{1,6}", good_definition(), 0..5),
        junk in proptest::collection::btree_map("junk-[a-z0-9]{1,6}", garbage_definition(), 0..5),
    ) {
        let dir = TempDir::new("model");
        for (name, (_, files)) in &good {
            std::fs::create_dir(dir.0.join(name)).unwrap();
            for (file, text) in files {
                std::fs::write(dir.0.join(name).join(file), text).unwrap();
            }
        }
        for (name, files) in &junk {
            std::fs::create_dir(dir.0.join(name)).unwrap();
            for (file, bytes) in files {
                std::fs::write(dir.0.join(name).join(file), bytes).unwrap();
            }
        }
        let dirs = vec![dir.0.clone()];
        let (db, problems) = within(move || Db::load(&dirs)).unwrap();
        for (name, (kind, _)) in &good {
            let service = db.services.get(name);
            prop_assert!(service.is_some_and(|s| s.kind == *kind), "{name} lost: {problems:?}");
        }
        for problem in &problems {
            prop_assert!(!problem.message.is_empty());
            match problem.level {
                Level::Error | Level::Warning => {
                    prop_assert!(problem.file.starts_with(&dir.0), "{problem}");
                    let owner = problem.file.strip_prefix(&dir.0).unwrap().components().next();
                    let owner = owner.map(|c| c.as_os_str().to_string_lossy().into_owned()).unwrap_or_default();
                    prop_assert!(!good.contains_key(&owner), "good {owner} blamed: {problem}");
                    prop_assert!(problem.to_string().starts_with(&problem.file.display().to_string()));
                }
                Level::LeftOut => prop_assert!(problem.message.contains("left out"), "{problem}"),
            }
        }
    }
}

/// A definition file over the limit is a problem named, never read: a sparse `run` of 4 TiB
/// (one `truncate -s 4T`) made `Db::load` reserve 4 TiB and abort the service manager. Every
/// way a file is read is bounded: a longrun's files (deep ones too), a oneshot's `up`, a
/// `type`, a link at the top of a definition; the good definition beside them stays.
#[test]
fn a_huge_definition_file_is_a_problem_not_an_abort() {
    let dir = TempDir::new("too-large");
    let defs = dir.0.join("sv");
    let huge = |path: &Path| {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::File::create(path).unwrap().set_len(1 << 42).unwrap();
    };
    let write = |path: &Path, text: &str| {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(&defs.join("web/type"), "longrun\n");
    huge(&defs.join("web/run"));
    write(&defs.join("deep/type"), "longrun\n");
    write(&defs.join("deep/run"), "#!/bin/sh\nexec sleep 1\n");
    huge(&defs.join("deep/data/blob"));
    write(&defs.join("linked/type"), "longrun\n");
    huge(&dir.0.join("elsewhere"));
    std::os::unix::fs::symlink(dir.0.join("elsewhere"), defs.join("linked/run")).unwrap();
    write(&defs.join("once/type"), "oneshot\n");
    huge(&defs.join("once/up"));
    huge(&defs.join("typed/type"));
    write(&defs.join("good/type"), "longrun\n");
    write(&defs.join("good/run"), "#!/bin/sh\nexec sleep 1\n");
    write(&defs.join("after-web/type"), "longrun\n");
    write(&defs.join("after-web/run"), "#!/bin/sh\nexec sleep 1\n");
    write(&defs.join("after-web/dependencies"), "web\n");

    let dirs = vec![defs.clone()];
    let (db, problems) = within(move || Db::load(&dirs)).unwrap();
    let names: Vec<&str> = db.services.keys().map(String::as_str).collect();
    assert_eq!(names, ["good"], "{problems:?}");
    let errors: Vec<String> = problems.iter().filter(|p| p.is_error()).map(|p| p.to_string()).collect();
    let said = |file: &str| {
        format!(
            "{}: 4398046511104 bytes, more than a definition file may hold (16 MiB); keep large data outside the \
             definition (name its path in run) or make the file smaller",
            defs.join(file).display()
        )
    };
    let expected: Vec<String> =
        ["deep/data/blob", "linked/run", "once/up", "typed/type", "web/run"].into_iter().map(said).collect();
    assert_eq!(errors, expected, "one problem each, the size and the fix, nothing else");
    assert!(
        problems.iter().any(|p| p.level == Level::LeftOut && p.message.starts_with("after-web left out")),
        "{problems:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// systemd units, s6-rc words.

proptest! {
    #![proptest_config(config(128))]

    /// Unit files: every good assignment is read with its line, whatever lines are between
    /// them; every warning reads `FILE:LINE: …; ignored` on a line that is not a good one.
    #[test]
    fn unit_file_keeps_every_good_assignment(
        lines in proptest::collection::vec(prop_oneof![
            ("[A-Z][A-Za-z]{0,12}", "[^\n\\\\]{0,20}[^\n\\\\ \t]").prop_map(Ok),
            garbage_line().prop_map(|g| Err(g.trim_end_matches(['\\', '\r']).to_string())),
        ], 0..25),
    ) {
        // Each good assignment comes after its own [Service]: a garbage `[x]` line may change
        // the section before it.
        let mut text = String::new();
        let mut expected = Vec::new();
        let mut line = 0;
        for entry in &lines {
            match entry {
                Ok((key, value)) => {
                    text += &format!("[Service]\n  {key} =  {value}\n");
                    line += 2;
                    expected.push((key.clone(), value.trim().to_string(), line));
                }
                Err(garbage) => {
                    text += &format!("{garbage}\n");
                    line += 1;
                }
            }
        }
        let file = Path::new("/etc/systemd/system/x.service");
        let mut warnings = Vec::new();
        let read = unit_file::parse(&text, file, &mut warnings);
        prop_assert!(read.len() + warnings.len() <= line);
        for (key, value, line) in &expected {
            let found = read
                .iter()
                .any(|a| a.section == "Service" && &a.key == key && &a.value == value && a.line == *line);
            prop_assert!(found, "{key}={value} (line {line}) lost: {read:?}");
        }
        for warning in &warnings {
            let line = warning.line.unwrap_or(0);
            prop_assert!(!expected.iter().any(|e| e.2 == line), "good line {line} warned about: {warning}");
            prop_assert!(warning.to_string().starts_with(&format!("{}:{line}: ", file.display())), "{warning}");
            prop_assert!(warning.message.ends_with("ignored"), "{warning}");
        }
    }

    /// s6-rc's command words: exactly its seven, from any text.
    #[test]
    fn s6rc_command_words(word in any::<String>()) {
        let known = ["help", "list", "listall", "diff", "change", "start", "stop"];
        prop_assert_eq!(ostler_rc::s6rc::Command::from_word(&word).is_some(), known.contains(&word.as_str()));
    }
}

//! The command line: every subcommand has real help and a man page; s6's names select them.

mod util;

use std::process::Command;
use util::*;

const SUBCOMMANDS: &[&str] = &[
    "svscan",
    "supervise",
    "svc",
    "svstat",
    "svwait",
    "svscanctl",
    "setuidgid",
    "init",
    "stage2",
    "poweroff",
    "reboot",
    "halt",
    "shutdown",
    "mount-all",
    "umount-all",
    "rc",
    "service",
    "ready",
    "analyze",
    "log",
    "logs",
    "tai64nlocal",
    "image",
    "with-contenv",
    "printcontenv",
    "s6-overlay",
    "policy-rc.d",
    "completions",
];

#[test]
fn every_subcommand_explains_every_option() {
    for sub in SUBCOMMANDS {
        let (code, out, err) = cmd(Command::new(ostler()).arg(sub).arg("--help"));
        assert_eq!(code, 0, "{sub}: {err}");
        // Each option is explained: words on its line, or (long help) on the lines below it.
        let lines: Vec<&str> = out.lines().collect();
        for (i, line) in lines.iter().enumerate().filter(|(_, l)| l.trim_start().starts_with('-')) {
            let words = line.split_whitespace().filter(|w| !w.starts_with('-') && !w.starts_with('<')).count();
            let below = lines.get(i + 1).is_some_and(|next| {
                let text = next.trim_start();
                !text.is_empty() && !text.starts_with('-') && next.starts_with("   ")
            });
            assert!(words >= 2 || below, "{sub}: option without an explanation: {line:?}\n{out}");
        }
        assert!(out.lines().count() > 8, "{sub}: help too thin:\n{out}");
    }
}

#[test]
fn man_pages_are_written_for_every_subcommand() {
    let tree = TempTree::new("man");
    let (code, _, err) = cmd(Command::new(ostler()).arg("man").arg(tree.join("man")));
    assert_eq!(code, 0, "{err}");
    for sub in SUBCOMMANDS {
        let page = std::fs::read_to_string(tree.join(format!("man/ostler-{sub}.1"))).unwrap();
        assert!(page.contains(".TH") && page.contains(".SH OPTIONS") || page.contains(".SH DESCRIPTION"), "{sub}");
    }
    // Nested subcommands too: ostler-image.1 refers to these.
    for nested in ["image-build", "image-write", "rc-change", "analyze-blame"] {
        let page = std::fs::read_to_string(tree.join(format!("man/ostler-{nested}.1")))
            .unwrap_or_else(|e| panic!("no page for ostler {nested}: {e}"));
        assert!(page.contains(&format!("ostler\\-{}", nested.replace('-', "\\-"))), "{nested}:\n{page}");
    }
}

#[test]
fn s6_names_select_the_subcommand_and_usage_errors_exit_100() {
    let tree = TempTree::new("argv0");
    let link = tree.join("s6-svstat");
    std::os::unix::fs::symlink(ostler(), &link).unwrap();
    let service = tree.dir("nothing");
    let (code, _, err) = cmd(Command::new(&link).arg(&service));
    assert_eq!(code, 1, "svstat on an unsupervised dir: {err}");
    assert!(err.contains("ostler svstat"), "{err}");
    let (code, _, _) = cmd(Command::new(ostler()).args(["svscan", "--no-such-option"]));
    assert_eq!(code, 100);
}

#[test]
fn with_contenv_and_printcontenv_answer_by_name_from_the_container_environment() {
    let tree = TempTree::new("contenv");
    let state = tree.dir("s6");
    let environment = state.join("container_environment");
    std::fs::create_dir_all(&environment).unwrap();
    std::fs::write(environment.join("GREETING"), "hello\nworld").unwrap();
    let (with, print) = (tree.join("with-contenv"), tree.join("printcontenv"));
    std::os::unix::fs::symlink(ostler(), &with).unwrap();
    std::os::unix::fs::symlink(ostler(), &print).unwrap();
    let run = |program: &std::path::Path, args: &[&str], keep: Option<&str>| {
        let mut command = Command::new(program);
        command.args(args).env("OSTLER_S6_STATE", &state).env("SECRET", "from the environment");
        match keep {
            Some(value) => command.env("S6_KEEP_ENV", value).env("GREETING", "kept"),
            None => command.env_remove("S6_KEEP_ENV"),
        };
        cmd(&mut command)
    };
    let (code, out, err) = run(&print, &["GREETING"], None);
    assert_eq!((code, out.as_str()), (0, "hello\nworld\n"), "{err}");
    assert_eq!(run(&print, &["NOSUCH"], None).0, 1);
    // The program sees the container environment and PATH, not the caller's other variables.
    let (code, out, err) = run(&with, &["/bin/sh", "-c", "echo \"$GREETING|${SECRET:-unset}|${PATH:+path}\""], None);
    assert_eq!((code, out.as_str()), (0, "hello\nworld|unset|path\n"), "{err}");
    // S6_KEEP_ENV: nothing changes, and printcontenv reads the environment.
    let (code, out, _) = run(&with, &["/bin/sh", "-c", "echo \"$GREETING|$SECRET\""], Some("1"));
    assert_eq!((code, out.as_str()), (0, "kept|from the environment\n"));
    assert_eq!(run(&print, &["GREETING"], Some("1")).1, "kept\n");
    let (code, _, err) = run(&with, &["/nonexistent"], None);
    assert_eq!(code, 127, "{err}");
    assert!(err.contains("with-contenv") && err.contains("/nonexistent"), "{err}");
}

#[test]
fn completion_scripts_for_ostler_and_the_names_it_answers_to() {
    let script = |args: &[&str]| {
        let (code, out, err) = cmd(Command::new(ostler()).arg("completions").args(args));
        assert_eq!(code, 0, "completions {args:?}: {err}");
        out
    };
    let bash = script(&["bash"]);
    assert!(bash.contains("_ostler()") && bash.contains("svstat") && bash.contains("--container"), "{bash}");
    let tree = TempTree::new("completions");
    let file = tree.file("ostler.bash", &bash);
    let (code, _, err) = cmd(Command::new("bash").arg("-n").arg(&file));
    assert_eq!(code, 0, "bash -n on the completion script: {err}");
    let service = script(&["bash", "--command", "service"]);
    assert!(service.contains("_service()") && service.contains("restart"), "{service}");
    assert!(script(&["zsh"]).starts_with("#compdef ostler"));
    assert!(script(&["fish"]).contains("complete -c ostler"));
    let (code, _, err) = cmd(Command::new(ostler()).args(["completions", "bash", "--command", "nosuch"]));
    assert_eq!(code, 100, "{err}");
}

#[test]
fn a_listing_whose_reader_goes_away_ends_quietly_by_sigpipe() {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    // The completion script is tens of kilobytes: more than a pipe holds, so the writer is
    // still writing when the reader closes after a few bytes (as `| head -1` does).
    let mut child = Command::new(ostler())
        .args(["completions", "bash"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGPIPE), "{status:?}: {err}");
    assert!(err.is_empty(), "nothing on standard error, no panic: {err}");
}

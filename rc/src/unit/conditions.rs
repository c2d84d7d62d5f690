//! `Condition*=` and `Assert*=` as shell tests, checked by `run` at each start (and again by
//! `finish`, which keeps a service whose condition failed down: exit 125).

use super::command::quote;

/// One check: the shell test, and the line it came from (`ConditionPathExists=!/x`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// A shell command list that succeeds when the condition holds.
    pub test: String,
    /// `Key=value`, for the message.
    pub label: String,
    /// `|`: a triggering condition (at least one of them must hold).
    pub triggering: bool,
}

/// The shell test of `Condition<what>=value` (or `Assert<what>=`), or why it cannot be checked
/// from a script.
pub fn check(key: &str, value: &str) -> Result<Check, String> {
    let what = key.strip_prefix("Condition").or_else(|| key.strip_prefix("Assert")).unwrap_or(key);
    let label = format!("{key}={value}");
    let (triggering, rest) = match value.strip_prefix('|') {
        Some(rest) => (true, rest.trim_start()),
        None => (false, value),
    };
    let (negate, arg) = match rest.strip_prefix('!') {
        Some(rest) => (true, rest.trim_start()),
        None => (false, rest),
    };
    let q = quote(arg);
    let test = match what {
        "PathExists" => format!("[ -e {q} ]"),
        "PathIsDirectory" => format!("[ -d {q} ]"),
        "PathIsSymbolicLink" => format!("[ -L {q} ]"),
        "PathIsReadWrite" => format!("[ -w {q} ]"),
        "FileNotEmpty" => format!("[ -f {q} ] && [ -s {q} ]"),
        "FileIsExecutable" => format!("[ -f {q} ] && [ -x {q} ]"),
        "DirectoryNotEmpty" => format!("[ -n \"$(ls -A {q} 2>/dev/null)\" ]"),
        "PathIsMountPoint" => {
            format!("awk -v p={q} '$5 == p {{ found = 1 }} END {{ exit !found }}' /proc/self/mountinfo")
        }
        "PathExistsGlob" => {
            if arg.chars().any(|c| c.is_whitespace() || "'\"$`\\;&|<>()".contains(c)) {
                return Err("the pattern holds characters a shell would read; check it in the run script".into());
            }
            format!("(set +f; for f in {arg}; do [ -e \"$f\" ] && exit 0; done; exit 1)")
        }
        "KernelCommandLine" => {
            let word = quote(arg);
            let patterns = if arg.contains('=') {
                format!("*\" \"{word}\" \"*")
            } else {
                format!("*\" \"{word}\" \"*|*\" \"{word}=*")
            };
            format!("case \" $(cat /proc/cmdline) \" in {patterns}) true ;; *) false ;; esac")
        }
        "User" if arg.starts_with('@') => return Err(format!("{arg} cannot be checked from a script")),
        "User" if arg.chars().all(|c| c.is_ascii_digit()) => format!("[ \"$(id -u)\" = {q} ]"),
        "User" => format!("[ \"$(id -un)\" = {q} ]"),
        "Group" if arg.chars().all(|c| c.is_ascii_digit()) => {
            format!("case \" $(id -G) \" in *\" \"{q}\" \"*) true ;; *) false ;; esac")
        }
        "Group" => format!("case \" $(id -Gn) \" in *\" \"{q}\" \"*) true ;; *) false ;; esac"),
        "Host" if !arg.contains(['\'', '"', '$', '`', '\\']) => {
            format!("case $(cat /proc/sys/kernel/hostname) in {arg}) true ;; *) false ;; esac")
        }
        _ => {
            return Err(format!(
                "{key}= cannot be checked from a script; the service starts whatever it says \
                 (test it in the run script if it matters)"
            ))
        }
    };
    let test = if negate { format!("! {{ {test}; }}") } else { format!("{{ {test}; }}") };
    Ok(Check { test, label, triggering })
}

/// The shell function `conditions`: returns 1, saying which, when a check fails (or when none
/// of the triggering ones holds).
pub fn function(name: &str, checks: &[Check]) -> String {
    let say = |what: &str| format!("echo {} >&2", quote(&format!("{name}: {what} does not hold: not started")));
    let mut out = String::from("conditions() {\n");
    for check in checks.iter().filter(|c| !c.triggering) {
        out.push_str(&format!("    {} || {{ {}; return 1; }}\n", check.test, say(&check.label)));
    }
    let triggering: Vec<&Check> = checks.iter().filter(|c| c.triggering).collect();
    if !triggering.is_empty() {
        let tests: Vec<&str> = triggering.iter().map(|c| c.test.as_str()).collect();
        let labels: Vec<&str> = triggering.iter().map(|c| c.label.as_str()).collect();
        let what = format!("none of {}", labels.join(", "));
        out.push_str(&format!("    {} || {{ {}; return 1; }}\n", tests.join(" || "), say(&what)));
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holds(key: &str, value: &str) -> bool {
        let check = check(key, value).unwrap();
        std::process::Command::new("/bin/sh").arg("-c").arg(&check.test).status().unwrap().success()
    }

    #[test]
    fn tests_run_in_the_shell() {
        assert!(holds("ConditionPathExists", "/"));
        assert!(holds("ConditionPathExists", "!/no/such/path"));
        assert!(!holds("ConditionPathExists", "/no/such/path"));
        assert!(holds("ConditionPathIsDirectory", "/etc"));
        assert!(holds("ConditionDirectoryNotEmpty", "/etc"));
        assert!(holds("ConditionFileIsExecutable", "/bin/sh"));
        assert!(!holds("ConditionFileNotEmpty", "/etc"));
        assert!(holds("ConditionPathIsMountPoint", "/proc"));
        assert!(!holds("ConditionPathIsMountPoint", "/etc"));
        assert!(holds("ConditionPathExistsGlob", "/etc/*"));
        assert!(!holds("ConditionPathExistsGlob", "/etc/no-such-*"));
        assert!(holds("ConditionKernelCommandLine", "!ostler.no.such.word"));
        assert!(holds("AssertUser", &nix::unistd::getuid().to_string()));
    }

    #[test]
    fn triggering_and_unsupported() {
        let check = check("ConditionPathExists", "|!/x").unwrap();
        assert!(check.triggering);
        assert_eq!(check.test, "! { [ -e /x ]; }");
        assert!(super::check("ConditionVirtualization", "!container").is_err());
        assert!(super::check("ConditionPathExistsGlob", "/a b*").is_err());
    }

    #[test]
    fn the_function_says_which_failed() {
        let checks = [
            check("ConditionPathExists", "/etc").unwrap(),
            check("ConditionPathExists", "/no/such").unwrap(),
            check("ConditionPathExists", "|/no/a").unwrap(),
        ];
        let script = format!("{}conditions", function("svc", &checks));
        let out = std::process::Command::new("/bin/sh").arg("-c").arg(&script).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "svc: ConditionPathExists=/no/such does not hold: not started\n"
        );
    }
}

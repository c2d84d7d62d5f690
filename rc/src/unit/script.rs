//! The scripts of an imported definition, for a POSIX `/bin/sh` (dash, busybox): a longrun's
//! `run` (conditions, `ExecStartPre=`, then `exec` of the daemon) and `finish` (`ExecStopPost=`,
//! then `Restart=`'s decision: exit 125 keeps the service down), a oneshot's `up.sh` and
//! `down.sh`.

use super::command::{quote, Command};
use super::conditions::{self, Check};

/// How the main process runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Main {
    /// Exec'd: the supervisor's child is the daemon.
    Exec(Command),
    /// A daemon that forks: started, then watched through its PID file by the script, which
    /// passes the stop signals on to it.
    PidFile {
        /// The command that starts it.
        command: Command,
        /// Its PID file.
        pid_file: String,
        /// How long to wait for the PID file, in seconds.
        wait: u64,
        /// The signal `svc -d` sends (passed on as a stop).
        down_signal: String,
    },
    /// A oneshot's commands, in order.
    Oneshot(Vec<Command>),
}

/// `Restart=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    /// `no` (systemd's default).
    No,
    /// `always`.
    Always,
    /// `on-success`.
    OnSuccess,
    /// `on-failure`.
    OnFailure,
    /// `on-abnormal`, `on-abort`: after a death by a signal other than a clean one.
    OnSignal,
}

/// Everything the scripts say.
#[derive(Clone, Debug)]
pub struct Scripts {
    /// The definition's name.
    pub name: String,
    /// The first lines: where it comes from (comment lines, `# ` included).
    pub header: Vec<String>,
    /// Lines before anything runs: redirections, `trap '' PIPE`, exports.
    pub setup: Vec<String>,
    /// `Condition*=` and `ExecCondition=`.
    pub conditions: Vec<Check>,
    /// `Assert*=`.
    pub asserts: Vec<Check>,
    /// `ExecStartPre=`.
    pub pre: Vec<Command>,
    /// `ExecStartPost=`.
    pub post: Vec<Command>,
    /// The main process.
    pub main: Main,
    /// `ExecStop=` (oneshots only: a longrun's stop is its down-signal).
    pub stop: Vec<Command>,
    /// `ExecStopPost=`.
    pub stop_post: Vec<Command>,
    /// `Restart=`.
    pub restart: Restart,
    /// `SuccessExitStatus=`, as `CODE:SIGNAL` patterns.
    pub success: Vec<String>,
    /// `RestartPreventExitStatus=`.
    pub prevent: Vec<String>,
    /// `RestartForceExitStatus=`.
    pub force: Vec<String>,
    /// `RestartSec=` past the supervisor's own second, in milliseconds.
    pub restart_sleep_ms: Option<u64>,
}

/// Clean deaths for systemd: exit 0, SIGHUP, SIGINT, SIGTERM, SIGPIPE.
const CLEAN: &str = "0:*|256:1|256:2|256:13|256:15";

fn line(command: &Command, on_failure: &str) -> String {
    if command.ignore_failure {
        format!("{} || :", command.shell())
    } else {
        format!("{} || {on_failure}", command.shell())
    }
}

fn start(scripts: &Scripts) -> String {
    let mut out = String::from("#!/bin/sh\n");
    for line in &scripts.header {
        out.push_str(line);
        out.push('\n');
    }
    for line in &scripts.setup {
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn checks(scripts: &Scripts, out: &mut String, on_false: &str) {
    if !scripts.conditions.is_empty() {
        out.push_str(&conditions::function(&scripts.name, &scripts.conditions));
        out.push_str(&format!("conditions || {on_false}\n"));
    }
    for check in &scripts.asserts {
        let say = quote(&format!("{}: {} does not hold: failed", scripts.name, check.label));
        out.push_str(&format!("{} || {{ echo {say} >&2; exit 1; }}\n", check.test));
    }
}

/// A longrun's `run`.
pub fn run(scripts: &Scripts) -> String {
    let mut out = start(scripts);
    checks(scripts, &mut out, "exit 0");
    // Variables standing alone split at blanks, as systemd splits them, and are never globbed.
    out.push_str("set -f\n");
    for command in &scripts.pre {
        out.push_str(&line(command, "exit"));
        out.push('\n');
    }
    if !scripts.post.is_empty() {
        let body: Vec<String> = scripts.post.iter().map(|c| line(c, "exit")).collect();
        out.push_str(&format!(
            "# ExecStartPost=, beside the daemon (not after it is ready)\n( {} ) &\n",
            body.join("; ")
        ));
    }
    match &scripts.main {
        Main::Exec(command) => out.push_str(&format!("exec {}\n", command.shell())),
        Main::PidFile { command, pid_file, wait, down_signal } => {
            let stop = down_signal.trim_start_matches("SIG");
            let mut stops = vec!["TERM", "INT", "QUIT"];
            if !stops.contains(&stop) {
                stops.push(stop);
            }
            out.push_str(&format!(
                "# Type=forking: the daemon leaves the foreground. Start it, wait for its PID file, then stay\n\
                 # while that process lives, passing signals on to it.\n\
                 {}\n\
                 pidfile={}\n\
                 tries=0\n\
                 until [ -s \"$pidfile\" ]; do\n\
                 \x20   tries=$((tries + 1))\n\
                 \x20   [ \"$tries\" -le {} ] || {{ echo {} >&2; exit 1; }}\n\
                 \x20   sleep 0.1\n\
                 done\n\
                 read -r pid < \"$pidfile\"\n\
                 stopping=\n\
                 for signal in {}; do trap \"stopping=1; kill -$signal $pid 2>/dev/null\" \"$signal\"; done\n\
                 for signal in HUP USR1 USR2; do trap \"kill -$signal $pid 2>/dev/null\" \"$signal\"; done\n\
                 while kill -0 \"$pid\" 2>/dev/null; do\n\
                 \x20   sleep 1 &\n\
                 \x20   wait $!\n\
                 done\n\
                 [ -n \"$stopping\" ]\n",
                line(command, "exit"),
                quote(pid_file),
                wait * 10,
                quote(&format!("{}: no PID file {pid_file} after {wait} seconds", scripts.name)),
                stops.join(" "),
            ));
        }
        Main::Oneshot(_) => {}
    }
    out
}

/// A longrun's `finish`, when it needs one (`Restart=` other than `always`, exit statuses,
/// `RestartSec=`, `ExecStopPost=`, conditions).
pub fn finish(scripts: &Scripts) -> Option<String> {
    let needed = scripts.restart != Restart::Always
        || !scripts.prevent.is_empty()
        || scripts.restart_sleep_ms.is_some()
        || !scripts.stop_post.is_empty()
        || !scripts.conditions.is_empty();
    if !needed {
        return None;
    }
    let mut out = String::from("#!/bin/sh\n");
    for line in &scripts.header {
        out.push_str(line);
        out.push('\n');
    }
    out.push_str("# Run after each death of run as: finish CODE SIGNAL NAME PGID (CODE 256: killed by SIGNAL).\n");
    out.push_str("# Exit 125: not restarted.\n");
    if !scripts.stop_post.is_empty() {
        out.push_str("# ExecStopPost=\n(\nset -f\n");
        for command in &scripts.stop_post {
            out.push_str(&format!("{} || :\n", command.shell()));
        }
        out.push_str(")\n");
    }
    if !scripts.conditions.is_empty() {
        out.push_str(&conditions::function(&scripts.name, &scripts.conditions));
        out.push_str("conditions > /dev/null 2>&1 || exit 125\n");
    }
    match scripts.restart_sleep_ms {
        Some(ms) => out.push_str(&format!("restart() {{ sleep {}; exit 0; }}\n", seconds(ms))),
        None => out.push_str("restart() { exit 0; }\n"),
    }
    if let Main::Exec(command) = &scripts.main {
        if command.ignore_failure {
            out.push_str("# ExecStart=-…: any exit code counts as success.\n[ \"$1\" = 256 ] || set -- 0 \"$2\"\n");
        }
    }
    if !scripts.prevent.is_empty() {
        out.push_str(&format!(
            "case \"$1:$2\" in {}) exit 125 ;; esac  # RestartPreventExitStatus=\n",
            scripts.prevent.join("|")
        ));
    }
    if !scripts.force.is_empty() {
        out.push_str(&format!(
            "case \"$1:$2\" in {}) restart ;; esac  # RestartForceExitStatus=\n",
            scripts.force.join("|")
        ));
    }
    let clean = std::iter::once(CLEAN.to_string()).chain(scripts.success.iter().cloned()).collect::<Vec<_>>().join("|");
    match scripts.restart {
        Restart::Always => out.push_str("restart\n"),
        Restart::No => out.push_str("exit 125  # Restart=no\n"),
        Restart::OnSuccess => out.push_str(&format!("case \"$1:$2\" in {clean}) restart ;; esac\nexit 125\n")),
        Restart::OnFailure => out.push_str(&format!("case \"$1:$2\" in {clean}) exit 125 ;; esac\nrestart\n")),
        Restart::OnSignal => {
            out.push_str(&format!("case \"$1:$2\" in {clean}) exit 125 ;; 256:*) restart ;; esac\nexit 125\n"))
        }
    }
    Some(out)
}

/// A oneshot's `up.sh`.
pub fn up(scripts: &Scripts) -> String {
    let mut out = start(scripts);
    checks(scripts, &mut out, "exit 0");
    out.push_str("set -f\n");
    let commands: Vec<&Command> = match &scripts.main {
        Main::Oneshot(commands) => scripts.pre.iter().chain(commands).chain(&scripts.post).collect(),
        _ => Vec::new(),
    };
    for command in commands {
        out.push_str(&line(command, "exit"));
        out.push('\n');
    }
    out
}

/// A oneshot's `down.sh`, when it has `ExecStop=` or `ExecStopPost=`.
pub fn down(scripts: &Scripts) -> Option<String> {
    if scripts.stop.is_empty() && scripts.stop_post.is_empty() {
        return None;
    }
    let mut out = start(scripts);
    out.push_str("set -f\n");
    for command in &scripts.stop {
        out.push_str(&line(command, "status=$?"));
        out.push('\n');
    }
    for command in &scripts.stop_post {
        out.push_str(&format!("{} || :\n", command.shell()));
    }
    out.push_str("exit ${status:-0}\n");
    Some(out)
}

/// Milliseconds as `sleep`'s argument.
fn seconds(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        (ms / 1000).to_string()
    } else {
        format!("{}.{:03}", ms / 1000, ms % 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit::command::parse;

    fn scripts(main: Main) -> Scripts {
        Scripts {
            name: "svc".into(),
            header: vec!["# header".into()],
            setup: vec![],
            conditions: vec![],
            asserts: vec![],
            pre: vec![],
            post: vec![],
            main,
            stop: vec![],
            stop_post: vec![],
            restart: Restart::Always,
            success: vec![],
            prevent: vec![],
            force: vec![],
            restart_sleep_ms: None,
        }
    }

    /// Runs `finish CODE SIGNAL` and gives its exit code.
    fn decide(script: &str, code: u32, signal: u32) -> i32 {
        std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(script)
            .args(["finish", &code.to_string(), &signal.to_string(), "svc", "1"])
            .status()
            .unwrap()
            .code()
            .unwrap()
    }

    #[test]
    fn run_execs_the_daemon_after_pre() {
        let mut s = scripts(Main::Exec(parse("/usr/sbin/sshd -D $SSHD_OPTS").unwrap()));
        s.pre = vec![parse("/usr/sbin/sshd -t").unwrap(), parse("-/bin/false").unwrap()];
        assert_eq!(
            run(&s),
            "#!/bin/sh\n# header\nset -f\n/usr/sbin/sshd -t || exit\n/bin/false || :\nexec /usr/sbin/sshd -D ${SSHD_OPTS}\n"
        );
        assert_eq!(finish(&s), None, "Restart=always needs no finish");
    }

    #[test]
    fn restart_policies_decide_in_finish() {
        let mut s = scripts(Main::Exec(parse("/bin/d").unwrap()));
        s.restart = Restart::OnFailure;
        s.prevent = vec!["255:*".into()];
        let f = finish(&s).unwrap();
        assert_eq!(decide(&f, 0, 0), 125);
        assert_eq!(decide(&f, 1, 0), 0);
        assert_eq!(decide(&f, 255, 0), 125);
        assert_eq!(decide(&f, 256, 15), 125);
        assert_eq!(decide(&f, 256, 9), 0);
        s.restart = Restart::No;
        assert_eq!(decide(&finish(&s).unwrap(), 1, 0), 125);
        s.restart = Restart::OnSuccess;
        s.prevent.clear();
        s.success = vec!["3:*".into()];
        let f = finish(&s).unwrap();
        assert_eq!((decide(&f, 0, 0), decide(&f, 3, 0), decide(&f, 1, 0)), (0, 0, 125));
        s.restart = Restart::OnSignal;
        let f = finish(&s).unwrap();
        assert_eq!((decide(&f, 1, 0), decide(&f, 256, 11), decide(&f, 256, 15)), (125, 0, 125));
        s.restart = Restart::OnFailure;
        s.main = Main::Exec(parse("-/bin/d").unwrap());
        assert_eq!(decide(&finish(&s).unwrap(), 1, 0), 125, "- makes any exit code a success");
    }

    #[test]
    fn a_failed_condition_keeps_the_service_down() {
        let mut s = scripts(Main::Exec(parse("/bin/true").unwrap()));
        s.conditions = vec![conditions::check("ConditionPathExists", "/no/such").unwrap()];
        let f = finish(&s).unwrap();
        assert_eq!(decide(&f, 0, 0), 125);
        let out = std::process::Command::new("/bin/sh").arg("-c").arg(run(&s)).output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        assert!(String::from_utf8_lossy(&out.stderr).contains("ConditionPathExists=/no/such does not hold"));
    }

    #[test]
    fn a_pid_file_daemon_is_watched() {
        let dir = std::env::temp_dir().join(format!("ostler-pidfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pid_file = dir.join("d.pid");
        let start = format!("/bin/sh -c 'sleep 30 & echo $! > {}'", pid_file.display());
        let s = scripts(Main::PidFile {
            command: parse(&start).unwrap(),
            pid_file: pid_file.display().to_string(),
            wait: 5,
            down_signal: "SIGTERM".into(),
        });
        let mut child = std::process::Command::new("/bin/sh").arg("-c").arg(run(&s)).spawn().unwrap();
        while !pid_file.exists() {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        // Killing the daemon ends run with a failure.
        let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).unwrap();
        assert_eq!(child.wait().unwrap().code(), Some(1));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn oneshots() {
        let mut s = scripts(Main::Oneshot(vec![parse("/bin/a").unwrap(), parse("-/bin/b x").unwrap()]));
        s.pre = vec![parse("/bin/p").unwrap()];
        assert_eq!(up(&s), "#!/bin/sh\n# header\nset -f\n/bin/p || exit\n/bin/a || exit\n/bin/b x || :\n");
        assert_eq!(down(&s), None);
        s.stop = vec![parse("/bin/s").unwrap()];
        assert_eq!(down(&s).unwrap(), "#!/bin/sh\n# header\nset -f\n/bin/s || status=$?\nexit ${status:-0}\n");
        assert_eq!(seconds(1500), "1.500");
        assert_eq!(seconds(3000), "3");
    }
}

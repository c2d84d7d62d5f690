use super::*;
use crate::unit::locate::Root;
use crate::unit::specifiers::Names;
use std::path::{Path, PathBuf};

/// A unit read from `text` as `NAME` (specifiers replaced, as `load` does).
fn loaded(name: &str, text: &str) -> Loaded {
    let names = Names::of(name);
    let file = PathBuf::from(format!("/units/{name}"));
    let mut warnings = Vec::new();
    let mut unit = Unit::default();
    unit.extend(text, &file, &mut warnings);
    for a in &mut unit.assignments {
        a.value = crate::unit::specifiers::expand(&a.value, &names).0;
    }
    Loaded { names, file, unit, warnings }
}

fn convert_with(name: &str, text: &str, existing: &[&str], batch: &[&str]) -> Result<Converted, ImportError> {
    let root = Root { dir: PathBuf::from("/nonexistent") };
    let existing: BTreeSet<String> = existing.iter().map(|s| s.to_string()).collect();
    let batch: BTreeSet<String> = batch.iter().map(|s| s.to_string()).collect();
    let context = Context { root: &root, existing: &existing, batch: &batch, defs: Path::new("/defs") };
    convert(&loaded(name, text), &context)
}

fn ok(name: &str, text: &str) -> Converted {
    convert_with(name, text, &[], &[]).unwrap()
}

fn warnings(converted: &Converted) -> Vec<String> {
    converted.warnings.iter().map(|w| w.to_string()).collect()
}

#[test]
fn privileges_become_ostler_files() {
    let c = ok(
        "web.service",
        "[Service]\nExecStart=/usr/sbin/web\nUser=www-data\nGroup=web\nSupplementaryGroups=a b\nSupplementaryGroups=c\n\
         CapabilityBoundingSet=CAP_NET_BIND_SERVICE\nAmbientCapabilities=cap_net_bind_service\nNoNewPrivileges=yes\n\
         LimitNOFILE=1024:4096\nLimitCORE=0\nLimitMEMLOCK=64K\nMemoryMax=512M\nTasksMax=100\nCPUWeight=50\nIOWeight=200\n\
         UMask=0027\nWorkingDirectory=-~\n",
    );
    let d = &c.definition;
    assert_eq!(d.text("user"), Some("www-data:web\n"));
    assert_eq!(d.text("groups"), Some("a b c\n"));
    assert_eq!(d.text("capabilities"), Some("cap_net_bind_service\n"));
    assert_eq!(d.text("ambient-capabilities"), Some("cap_net_bind_service\n"));
    assert_eq!(d.text("no-new-privs"), Some(""));
    assert_eq!(d.text("limits"), Some("core 0:0\nnofile 1024:4096\nmemlock 65536:65536\n"));
    assert_eq!(d.text("memory-max"), Some("536870912\n"));
    assert_eq!(d.text("pids-max"), Some("100\n"));
    assert_eq!(d.text("cpu-weight"), Some("50\n"));
    assert_eq!(d.text("io-weight"), Some("200\n"));
    assert_eq!(d.text("umask"), Some("0027\n"));
    assert_eq!(d.text("working-directory"), Some("~\n"));
    assert_eq!(d.text("type"), Some("longrun\n"));
    assert!(warnings(&c).is_empty(), "{:?}", warnings(&c));
}

#[test]
fn inverted_and_empty_capability_sets() {
    let c = ok("a.service", "[Service]\nExecStart=/a\nCapabilityBoundingSet=~CAP_SYS_ADMIN CAP_SYS_MODULE\n");
    let caps = c.definition.text("capabilities").unwrap();
    assert!(caps.contains("cap_chown") && !caps.contains("cap_sys_admin") && !caps.contains("cap_sys_module"));
    let c = ok("a.service", "[Service]\nExecStart=/a\nCapabilityBoundingSet=\nCapabilityBoundingSet=\n");
    assert_eq!(c.definition.text("capabilities"), None, "an empty assignment resets to the default");
    let c =
        ok("a.service", "[Service]\nExecStart=/a\nCapabilityBoundingSet=cap_kill\nCapabilityBoundingSet=~cap_kill\n");
    assert_eq!(c.definition.text("capabilities"), Some(""), "none left: an empty file");
    let c = ok("a.service", "[Service]\nExecStart=/a\nGroup=adm\nMemoryMax=infinity\nTasksMax=infinity\n");
    assert_eq!(c.definition.text("user"), Some("root:adm\n"));
    assert_eq!(c.definition.text("memory-max"), Some("max\n"));
    assert_eq!(c.definition.text("pids-max"), Some("max\n"));
}

#[test]
fn environment_directory_and_files() {
    let c = ok(
        "a.service",
        "[Service]\nExecStart=/a $OPTS\nEnvironment=\"A=one two\" B=3\nEnvironment=C=\nEnvironmentFile=-/etc/default/a\n\
         EnvironmentFile=/etc/a.env\n",
    );
    let d = &c.definition;
    assert_eq!(d.text("environment/A"), Some("one two\n"));
    assert_eq!(d.text("environment/B"), Some("3\n"));
    assert_eq!(d.text("environment/C"), Some("\n"));
    assert_eq!(d.text("environment-file"), Some("-/etc/default/a\n/etc/a.env\n"));
    assert!(d.text("run").unwrap().ends_with("exec /a ${OPTS}\n"));
}

#[test]
fn directories_with_their_modes() {
    let c = ok(
        "a.service",
        "[Service]\nExecStart=/a\nRuntimeDirectory=a a/sub\nRuntimeDirectoryMode=0750\nStateDirectory=a\nLogsDirectory=a\n\
         LogsDirectoryMode=0700\n",
    );
    assert_eq!(c.definition.text("runtime-directory"), Some("a 0750\na/sub 0750\n"));
    assert_eq!(c.definition.text("state-directory"), Some("a 0755\n"));
    assert_eq!(c.definition.text("logs-directory"), Some("a 0700\n"));
}

#[test]
fn stopping_signals_and_timeouts() {
    let c = ok(
        "a.service",
        "[Service]\nExecStart=/a\nKillSignal=SIGINT\nTimeoutStopSec=10s\nTimeoutStartSec=1min\nKillMode=mixed\n",
    );
    assert_eq!(c.definition.text("down-signal"), Some("SIGINT\n"));
    assert_eq!(c.definition.text("timeout-kill"), Some("10000\n"));
    assert_eq!(c.definition.text("timeout-up"), Some("60000\n"));
    let c = ok("a.service", "[Service]\nExecStart=/a\nExecStop=/bin/kill -s QUIT $MAINPID\nTimeoutSec=infinity\n");
    assert_eq!(c.definition.text("down-signal"), Some("SIGQUIT\n"));
    assert_eq!(c.definition.text("timeout-kill"), None);
    assert_eq!(c.definition.text("timeout-up"), None);
    let c = ok("a.service", "[Service]\nExecStart=/a\nTimeoutStopSec=5\nSendSIGKILL=no\n");
    assert_eq!(c.definition.text("timeout-kill"), None);
}

#[test]
fn type_notify_and_the_restart_policy() {
    let c = ok(
        "a.service",
        "[Service]\nType=notify\nExecStart=/a\nRestart=on-failure\nRestartSec=5\nRestartPreventExitStatus=3 SIGUSR2\n\
         SuccessExitStatus=7\n",
    );
    let d = &c.definition;
    assert_eq!(d.text("notify-socket"), Some(""));
    let finish = d.text("finish").unwrap();
    assert!(finish.contains("restart() { sleep 4; exit 0; }"), "{finish}");
    assert!(finish.contains("case \"$1:$2\" in 3:*|256:12) exit 125 ;; esac"), "{finish}");
    assert!(finish.contains("0:*|256:1|256:2|256:13|256:15|7:*) exit 125"), "{finish}");
    assert_eq!(d.text("timeout-finish"), Some("9000\n"));
    let c = ok("a.service", "[Service]\nExecStart=/a\nRestart=always\nRestartSec=100ms\n");
    assert_eq!(c.definition.text("finish"), None, "s6 restarts by itself");
}

#[test]
fn forking_daemons_in_the_foreground() {
    let c = ok(
        "nginx.service",
        "[Service]\nType=forking\nPIDFile=/run/nginx.pid\nExecStart=/usr/sbin/nginx -g 'daemon on; master_process on;'\n",
    );
    assert!(c.definition.text("run").unwrap().contains("exec /usr/sbin/nginx -g 'daemon off; master_process on;'\n"));
    let c = ok("nginx.service", "[Service]\nType=forking\nExecStart=/usr/sbin/nginx\n");
    assert!(c.definition.text("run").unwrap().contains("exec /usr/sbin/nginx -g 'daemon off;'\n"));
    let c = ok("ssh.service", "[Service]\nType=forking\nExecStart=/usr/sbin/sshd $OPTS\n");
    assert!(c.definition.text("run").unwrap().contains("exec /usr/sbin/sshd -D ${OPTS}\n"));
    let c = ok("cron.service", "[Service]\nType=forking\nExecStart=/usr/sbin/cron -f\n");
    assert!(c.definition.text("run").unwrap().contains("exec /usr/sbin/cron -f\n"));
    assert!(c.warnings.is_empty());
}

#[test]
fn forking_daemons_through_their_pid_file() {
    let c = ok("old.service", "[Service]\nType=forking\nPIDFile=/run/old.pid\nExecStart=/usr/sbin/oldd\n");
    let run = c.definition.text("run").unwrap();
    assert!(run.contains("/usr/sbin/oldd || exit\npidfile=/run/old.pid\n"), "{run}");
    assert_eq!(
        warnings(&c),
        ["/units/old.service:2: Type=forking: oldd has no foreground option ostler knows, so run starts it, waits for \
          /run/old.pid and watches that process once a second, passing stop signals on; give the daemon its foreground \
          option and Type=simple if it has one"]
    );
    let error =
        convert_with("old.service", "[Service]\nType=forking\nExecStart=/usr/sbin/oldd\n", &[], &[]).unwrap_err();
    assert!(error.to_string().contains("Type=forking without PIDFile="), "{error}");
    let error = convert_with("x.service", "[Service]\nUser=x\n", &[], &[]).unwrap_err();
    assert_eq!(error.to_string(), "/units/x.service: no ExecStart=: nothing to run, so nothing to import");
}

#[test]
fn templates_and_specifiers() {
    let c = ok(
        "getty@tty1.service",
        "[Unit]\nDescription=Getty on %I\n[Service]\nExecStart=-/sbin/agetty -o '-p -- \\\\u' --noclear - $TERM\n\
         TTYPath=/dev/%I\nStandardInput=tty\nStandardOutput=tty\nRestart=always\n",
    );
    assert_eq!(c.definition.name, "getty@tty1");
    let run = c.definition.text("run").unwrap();
    assert!(run.contains("# getty@tty1: Getty on tty1\n"), "{run}");
    assert!(run.contains("exec </dev/tty1 >/dev/tty1 2>&1\n"), "{run}");
    assert!(run.contains("export TERM=\"${TERM:-linux}\"\n"), "{run}");
    assert!(run.ends_with("exec /sbin/agetty -o '-p -- \\u' --noclear - ${TERM}\n"), "{run}");
}

#[test]
fn oneshots_get_up_and_down_scripts() {
    let c = ok(
        "setup.service",
        "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/a\nExecStart=-/bin/b\nExecStop=/bin/c\n\
         Environment=X=1\nEnvironmentFile=-/etc/default/setup\nUser=nobody\n",
    );
    let d = &c.definition;
    assert_eq!(d.text("type"), Some("oneshot\n"));
    assert!(d.text("up").unwrap().ends_with("/bin/sh ./up.sh\n"));
    let up = d.text("up.sh").unwrap();
    assert!(
        up.contains("[ ! -r /etc/default/setup ] || { set -a; . /etc/default/setup; set +a; }\nexport X=1\n"),
        "{up}"
    );
    assert!(up.ends_with("/bin/a || exit\n/bin/b || :\n"), "{up}");
    assert_eq!(d.files["up.sh"].1, 0o755);
    assert!(d.text("down.sh").unwrap().contains("/bin/c || status=$?\n"));
    assert_eq!(d.text("user"), None);
    assert_eq!(
        warnings(&c),
        ["/units/setup.service:9: User=nobody is not carried over: a oneshot runs as the service manager does; run its \
          commands through `ostler caps` or `ostler limit` in up.sh"]
    );
}

#[test]
fn dependencies_on_definitions_targets_and_the_rest() {
    let c = convert_with(
        "web.service",
        "[Unit]\nAfter=network-online.target db.service remote-fs.target\nWants=network-online.target\n\
         Requires=cache.service\nBefore=proxy.service late.service\n[Service]\nExecStart=/web\n",
        &["network", "mount-all", "late"],
        &["web", "db", "proxy"],
    )
    .unwrap();
    let deps: Vec<&str> = c.definition.dependencies.iter().map(String::as_str).collect();
    assert_eq!(deps, ["db", "mount-all", "network"]);
    assert_eq!(c.before, ["proxy"]);
    assert_eq!(
        warnings(&c),
        [
            "/units/web.service:4: Requires=cache.service is not carried over: cache has no definition in /defs; import it \
             too (`ostler import-unit cache.service`), then import this one again with --force",
            "/units/web.service:5: Before=late is not carried over: late is not imported with it; add dependencies.d/web \
             to late's definition",
        ]
    );
    let c = convert_with("a.service", "[Unit]\nDefaultDependencies=no\n[Service]\nExecStart=/a\n", &["mount-all"], &[])
        .unwrap();
    assert!(c.definition.dependencies.is_empty());
}

#[test]
fn conditions_are_checked_by_run_and_finish() {
    let c = ok(
        "a.service",
        "[Unit]\nConditionPathExists=/etc/a.conf\nConditionVirtualization=!container\nAssertPathIsDirectory=/var/a\n\
         [Service]\nExecStart=/a\nRestart=always\n",
    );
    let run = c.definition.text("run").unwrap();
    assert!(run.contains("{ [ -e /etc/a.conf ]; } || {"), "{run}");
    assert!(run.contains("conditions || exit 0\n"), "{run}");
    assert!(run.contains(
        "{ [ -d /var/a ]; } || { echo 'a: AssertPathIsDirectory=/var/a does not hold: failed' >&2; exit 1; }"
    ));
    assert!(c.definition.text("finish").unwrap().contains("conditions > /dev/null 2>&1 || exit 125\n"));
    assert_eq!(
        warnings(&c),
        ["/units/a.service:3: ConditionVirtualization=!container is not carried over: ConditionVirtualization= cannot be \
          checked from a script; the service starts whatever it says (test it in the run script if it matters)"]
    );
}

#[test]
fn full_privileges_prefix_under_a_user() {
    let c = ok("a.service", "[Service]\nUser=a\nExecStartPre=+/bin/mkdir -p /run/a\nExecStart=/a\n");
    assert_eq!(
        warnings(&c),
        ["/units/a.service:3: ExecStartPre=+/bin/mkdir -p /run/a: the + prefix (full privileges) is not carried over: \
          the supervisor applies `user` and the capabilities to run itself, so it runs with the service's privileges; \
          make it a oneshot the service depends on"]
    );
    assert!(ok("a.service", "[Service]\nExecStartPre=+/bin/true\nExecStart=/a\n").warnings.is_empty());
}

#[test]
fn stop_signal_recognition() {
    let signal = |line: &str| stop_signal(&command::parse(line).unwrap());
    assert_eq!(signal("/bin/kill -HUP $MAINPID"), Some(("SIGHUP".into(), None)));
    assert_eq!(signal("/bin/kill $MAINPID"), Some(("SIGTERM".into(), None)));
    assert_eq!(
        signal("-/sbin/start-stop-daemon --quiet --stop --retry QUIT/5 --pidfile /run/nginx.pid"),
        Some(("SIGQUIT".into(), Some(5)))
    );
    assert_eq!(signal("/usr/bin/apachectl graceful-stop"), None);
    assert_eq!(signal("/bin/kill -HUP 1"), None);
}

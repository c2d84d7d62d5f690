//! One unit → one definition. Every assignment is either carried over (a file of the
//! definition, a line of a script) or said in a warning with its file and line; the table is in
//! docs/import-unit.md.

use super::command::{self, Command, Word};
use super::conditions::{self, Check};
use super::deps::{self, Context};
use super::parse::{Assignment, Unit};
use super::script::{self, Main, Restart, Scripts};
use super::values::{self, LIMITS};
use super::{Definition, ImportError, Loaded, Warning};
use std::collections::{BTreeMap, BTreeSet};

/// A definition made from a unit, what must come after it (`Before=` on units imported with
/// it), and the warnings.
#[derive(Debug)]
pub struct Converted {
    /// The definition.
    pub definition: Definition,
    /// Definitions that must depend on this one.
    pub before: Vec<String>,
    /// What was not carried over.
    pub warnings: Vec<Warning>,
}

/// The definition's name: the unit's, without `.service`.
pub fn definition_name(unit: &str) -> String {
    unit.strip_suffix(".service").unwrap_or(unit).to_string()
}

/// Keys read without a counterpart, on purpose: descriptions, and the `[Install]` section
/// (enabling is the `default` bundle: `--enabled`, `service NAME enable`).
const SILENT: &[(&str, &str)] = &[
    ("Unit", "Description"),
    ("Unit", "Documentation"),
    ("Unit", "DefaultDependencies"),
    ("Unit", "SourcePath"),
    ("Unit", "IgnoreOnIsolate"),
    ("Unit", "AllowIsolate"),
    ("Service", "NotifyAccess"),
    ("Service", "GuessMainPID"),
];

/// Keys this module reads (beside `Condition*`, `Assert*`, `Limit*`, `[Install]`).
const HANDLED: &[(&str, &str)] = &[
    ("Unit", "Requires"),
    ("Unit", "Requisite"),
    ("Unit", "BindsTo"),
    ("Unit", "Wants"),
    ("Unit", "Upholds"),
    ("Unit", "After"),
    ("Unit", "Before"),
    ("Unit", "Conflicts"),
    ("Service", "Type"),
    ("Service", "ExecStart"),
    ("Service", "ExecStartPre"),
    ("Service", "ExecStartPost"),
    ("Service", "ExecCondition"),
    ("Service", "ExecStop"),
    ("Service", "ExecStopPost"),
    ("Service", "ExecReload"),
    ("Service", "PIDFile"),
    ("Service", "RemainAfterExit"),
    ("Service", "Restart"),
    ("Service", "RestartSec"),
    ("Service", "RestartPreventExitStatus"),
    ("Service", "RestartForceExitStatus"),
    ("Service", "SuccessExitStatus"),
    ("Service", "TimeoutSec"),
    ("Service", "TimeoutStartSec"),
    ("Service", "TimeoutStopSec"),
    ("Service", "KillSignal"),
    ("Service", "KillMode"),
    ("Service", "SendSIGKILL"),
    ("Service", "User"),
    ("Service", "Group"),
    ("Service", "SupplementaryGroups"),
    ("Service", "Environment"),
    ("Service", "EnvironmentFile"),
    ("Service", "WorkingDirectory"),
    ("Service", "UMask"),
    ("Service", "CapabilityBoundingSet"),
    ("Service", "AmbientCapabilities"),
    ("Service", "NoNewPrivileges"),
    ("Service", "MemoryMax"),
    ("Service", "MemoryLimit"),
    ("Service", "TasksMax"),
    ("Service", "CPUWeight"),
    ("Service", "IOWeight"),
    ("Service", "RuntimeDirectory"),
    ("Service", "RuntimeDirectoryMode"),
    ("Service", "StateDirectory"),
    ("Service", "StateDirectoryMode"),
    ("Service", "LogsDirectory"),
    ("Service", "LogsDirectoryMode"),
    ("Service", "StandardInput"),
    ("Service", "StandardOutput"),
    ("Service", "StandardError"),
    ("Service", "TTYPath"),
    ("Service", "IgnoreSIGPIPE"),
];

/// Foreground options of daemons that fork by default: program, and the option that keeps it
/// in the foreground. nginx's is special (its `-g` directive): see [`foreground`].
const FOREGROUND: &[(&str, &str)] = &[
    ("sshd", "-D"),
    ("cron", "-f"),
    ("rsyslogd", "-n"),
    ("dnsmasq", "-k"),
    ("named", "-f"),
    ("ntpd", "-n"),
    ("chronyd", "-n"),
    ("dbus-daemon", "--nofork"),
    ("smbd", "--foreground"),
    ("avahi-daemon", "-s"),
];

/// Why a key has no counterpart, by the family it belongs to.
fn why_not(key: &str) -> String {
    const SANDBOX: &[&str] = &[
        "Protect",
        "Private",
        "Restrict",
        "ReadWrite",
        "ReadOnly",
        "Inaccessible",
        "SystemCall",
        "MemoryDeny",
        "LockPersonality",
        "DevicePolicy",
        "DeviceAllow",
        "IPAddress",
        "ProcSubset",
        "Bind",
        "TemporaryFileSystem",
        "RootDirectory",
        "RootImage",
        "MountAPIVFS",
        "KeyringMode",
        "SecureBits",
        "Personality",
        "RemoveIPC",
        "NetworkNamespacePath",
        "IPCNamespacePath",
    ];
    if SANDBOX.iter().any(|prefix| key.starts_with(prefix)) {
        return "ostler runs services without namespaces or system-call filters (sandboxing); \
                the service runs without this restriction"
            .into();
    }
    match key {
        "StartLimitIntervalSec" | "StartLimitBurst" | "StartLimitInterval" | "StartLimitAction" => {
            "the supervisor restarts a failing service once a second, with no limit".into()
        }
        "OnFailure" | "OnSuccess" => "ostler has no such hook; a finish script can run the command".into(),
        "PartOf" | "PropagatesReloadTo" | "ReloadPropagatedFrom" => {
            "restarts and reloads do not propagate between services; `service NAME restart` each one".into()
        }
        "Nice"
        | "CPUSchedulingPolicy"
        | "CPUSchedulingPriority"
        | "IOSchedulingClass"
        | "IOSchedulingPriority"
        | "OOMScoreAdjust"
        | "CPUAffinity" => {
            "ostler does not set scheduling; put `nice`, `chrt`, `ionice` or `taskset` before the daemon in run".into()
        }
        "WatchdogSec" => "ostler has no watchdog; liveness is the process being alive".into(),
        "SyslogIdentifier" | "SyslogFacility" | "SyslogLevel" | "SyslogLevelPrefix" | "LogLevelMax" => {
            "output goes to ostler's log, not to syslog; add a `log` file for a log of the service's own".into()
        }
        "DynamicUser" => "ostler does not make users; make one (adduser --system) and name it in `user`".into(),
        "RuntimeDirectoryPreserve"
        | "CacheDirectory"
        | "ConfigurationDirectory"
        | "CacheDirectoryMode"
        | "ConfigurationDirectoryMode" => {
            "ostler makes only runtime, state and logs directories; make it in run or by hand".into()
        }
        "Slice"
        | "Delegate"
        | "CPUQuota"
        | "MemoryHigh"
        | "MemoryLow"
        | "MemoryMin"
        | "MemorySwapMax"
        | "IOReadBandwidthMax"
        | "IOWriteBandwidthMax"
        | "CPUShares"
        | "BlockIOWeight" => {
            "ostler sets only memory-max, pids-max, cpu-weight and io-weight on a service's control group".into()
        }
        _ => "ostler has no equivalent".into(),
    }
}

struct Converter<'a> {
    loaded: &'a Loaded,
    name: String,
    files: BTreeMap<String, (Vec<u8>, u32)>,
    warnings: Vec<Warning>,
    /// Comment lines for the scripts, after the header.
    header: Vec<String>,
}

impl Converter<'_> {
    fn unit(&self) -> &Unit {
        &self.loaded.unit
    }

    fn file(&mut self, path: &str, text: impl Into<String>) {
        self.files.insert(path.to_string(), (text.into().into_bytes(), 0o644));
    }

    fn get(&self, key: &str) -> Option<&Assignment> {
        self.loaded.unit.get("Service", key)
    }

    fn list(&self, key: &str) -> Vec<Assignment> {
        self.loaded.unit.list("Service", key).into_iter().cloned().collect()
    }

    fn warn(&mut self, assignment: &Assignment, why: impl std::fmt::Display) {
        self.warnings.push(assignment.not_carried(why));
    }

    /// The commands of an `Exec*=` key, each with its line.
    fn commands(&mut self, key: &str) -> Vec<(Command, Assignment)> {
        let mut found = Vec::new();
        for assignment in self.list(key) {
            match command::parse(&assignment.value) {
                Ok(command) => {
                    if command.argv0.is_some() {
                        self.warnings.push(assignment.warning(format!(
                            "{}={}: the @ prefix's argv[0] is not carried over: the program runs under its own name",
                            assignment.key, assignment.value
                        )));
                    }
                    found.push((command, assignment));
                }
                Err(why) => self.warn(&assignment, format!("not a command line ({why}); write it in run by hand")),
            }
        }
        found
    }
}

/// Converts one unit.
pub fn convert(loaded: &Loaded, context: &Context) -> Result<Converted, ImportError> {
    let name = definition_name(&loaded.names.full);
    let mut c =
        Converter { loaded, name: name.clone(), files: BTreeMap::new(), warnings: Vec::new(), header: Vec::new() };
    unknown_keys(&mut c);
    let (dependencies, before) = dependencies(&mut c, context);
    let privileged = files::privileges(&mut c);
    let mut scripts = scripts(&mut c, privileged)?;
    scripts.header.append(&mut c.header);
    let oneshot = matches!(scripts.main, Main::Oneshot(_));
    stopping(&mut c, &mut scripts, oneshot);
    if oneshot {
        files::oneshot_environment(&mut c, &mut scripts);
        c.file("type", "oneshot\n");
        c.file(
            "up",
            "# The unit's commands are in up.sh, a shell script; this file is an execline command line.\n/bin/sh ./up.sh\n",
        );
        c.files.insert("up.sh".into(), (script::up(&scripts).into_bytes(), 0o755));
        if let Some(down) = script::down(&scripts) {
            c.file("down", "# The unit's stop commands are in down.sh, a shell script.\n/bin/sh ./down.sh\n");
            c.files.insert("down.sh".into(), (down.into_bytes(), 0o755));
        }
    } else {
        c.file("type", "longrun\n");
        c.files.insert("run".into(), (script::run(&scripts).into_bytes(), 0o755));
        if let Some(finish) = script::finish(&scripts) {
            c.files.insert("finish".into(), (finish.into_bytes(), 0o755));
        }
        if let Some(ms) = scripts.restart_sleep_ms {
            c.file("timeout-finish", format!("{}\n", ms + 5000));
        }
    }
    Ok(Converted {
        definition: Definition { name, unit: loaded.names.full.clone(), files: c.files, dependencies },
        before,
        warnings: c.warnings,
    })
}

/// Every key this module has no counterpart for: a warning each.
fn unknown_keys(c: &mut Converter) {
    let assignments = c.unit().assignments.clone();
    for a in &assignments {
        let pair = (a.section.as_str(), a.key.as_str());
        let known = SILENT.contains(&pair)
            || HANDLED.contains(&pair)
            || a.section == "Install"
            || a.key.starts_with("X-")
            || (a.section == "Unit" && (a.key.starts_with("Condition") || a.key.starts_with("Assert")))
            || (a.section == "Service" && LIMITS.iter().any(|(key, _, _)| *key == a.key));
        if known {
            continue;
        }
        if !["Unit", "Service", "Install"].contains(&pair.0) {
            c.warn(a, format!("[{}] is not a section of a service unit", a.section));
        } else {
            c.warn(a, why_not(&a.key));
        }
    }
}

/// `Requires=`, `Wants=`, `After=`… → dependencies; `Before=` → the names that must depend on
/// this one.
fn dependencies(c: &mut Converter, context: &Context) -> (BTreeSet<String>, Vec<String>) {
    let mut found = BTreeSet::new();
    let default_dependencies =
        c.unit().get("Unit", "DefaultDependencies").and_then(|a| values::boolean(&a.value)).unwrap_or(true);
    if default_dependencies {
        found.extend(deps::defaults(&c.name, context));
    }
    for key in ["Requires", "Requisite", "BindsTo", "Wants", "Upholds", "After"] {
        for a in c.loaded.unit.list("Unit", key) {
            found.extend(deps::line(a, &c.name, context, &mut c.warnings));
        }
    }
    let mut before = Vec::new();
    for a in c.loaded.unit.list("Unit", "Before") {
        for def in deps::line(a, &c.name, context, &mut c.warnings) {
            if context.batch.contains(&def) {
                before.push(def);
            } else {
                let why = format!("{def} is not imported with it; add dependencies.d/{} to {def}'s definition", c.name);
                c.warnings.push(a.warning(format!("Before={def} is not carried over: {why}")));
            }
        }
    }
    for a in c.loaded.unit.list("Unit", "Conflicts") {
        let others: Vec<&str> = a.value.split_whitespace().filter(|n| *n != "shutdown.target").collect();
        if !others.is_empty() {
            let why = "ostler has no conflicts; stop the other service first (`service NAME stop`)";
            c.warnings.push(a.warning(format!("Conflicts={} is not carried over: {why}", others.join(" "))));
        }
    }
    (found, before)
}

/// The scripts: type, commands, conditions, restart policy, standard streams.
fn scripts(c: &mut Converter, privileged: bool) -> Result<Scripts, ImportError> {
    let kind = c.get("Type").cloned();
    let kind_word = kind.as_ref().map_or("simple", |a| a.value.as_str()).to_string();
    let mut starts = c.commands("ExecStart");
    if starts.is_empty() {
        return Err(ImportError::Unsupported {
            file: c.loaded.file.clone(),
            message: "no ExecStart=: nothing to run, so nothing to import".into(),
        });
    }
    if kind_word != "oneshot" && starts.len() > 1 {
        for (_, a) in &starts[1..] {
            c.warnings
                .push(a.not_carried("only a Type=oneshot service has more than one ExecStart=; the first is used"));
        }
        starts.truncate(1);
    }
    let description = c.unit().get("Unit", "Description").map(|a| a.value.clone());
    let mut header = vec![match description {
        Some(d) => format!("# {}: {d}", c.name),
        None => format!("# {}", c.name),
    }];
    header.push(format!("# Made by `ostler import-unit` from {} (docs/import-unit.md).", c.loaded.file.display()));
    let mut scripts = Scripts {
        name: c.name.clone(),
        header,
        setup: Vec::new(),
        conditions: Vec::new(),
        asserts: Vec::new(),
        pre: Vec::new(),
        post: Vec::new(),
        main: Main::Oneshot(Vec::new()),
        stop: Vec::new(),
        stop_post: Vec::new(),
        restart: Restart::No,
        success: Vec::new(),
        prevent: Vec::new(),
        force: Vec::new(),
        restart_sleep_ms: None,
    };
    for key in ["ExecStartPre", "ExecStartPost", "ExecCondition"] {
        for (command, a) in c.commands(key) {
            if command.full_privileges && privileged {
                c.warnings.push(a.warning(format!(
                    "{key}={}: the + prefix (full privileges) is not carried over: the supervisor applies `user` and the \
                     capabilities to run itself, so it runs with the service's privileges; make it a oneshot the service depends on",
                    a.value
                )));
            }
            match key {
                "ExecStartPre" => scripts.pre.push(command),
                "ExecStartPost" => {
                    c.warnings.push(a.warning(format!(
                        "ExecStartPost={} runs beside the daemon, started just before it, not after it is up",
                        a.value
                    )));
                    scripts.post.push(command);
                }
                _ => scripts.conditions.push(Check {
                    test: command.shell(),
                    label: format!("ExecCondition={}", a.value),
                    triggering: false,
                }),
            }
        }
    }
    let assignments: Vec<Assignment> = c.unit().assignments.iter().filter(|a| a.section == "Unit").cloned().collect();
    for key in ["Condition", "Assert"] {
        let keys: BTreeSet<String> =
            assignments.iter().filter(|a| a.key.starts_with(key)).map(|a| a.key.clone()).collect();
        for k in keys {
            for a in c.loaded.unit.list("Unit", &k) {
                match conditions::check(&a.key, &a.value) {
                    Ok(check) if key == "Condition" => scripts.conditions.push(check),
                    Ok(check) => scripts.asserts.push(check),
                    Err(why) => c.warnings.push(a.not_carried(why)),
                }
            }
        }
    }
    standard_streams(c, &mut scripts);
    let main_command = starts[0].0.clone();
    if main_command.full_privileges && privileged && kind_word != "oneshot" {
        c.warn(
            &starts[0].1.clone(),
            "the + prefix (full privileges) is not carried over: the daemon runs with the service's privileges",
        );
    }
    match kind_word.as_str() {
        "oneshot" => {
            scripts.main = Main::Oneshot(starts.into_iter().map(|(command, _)| command).collect());
            if let Some(a) = c.get("RemainAfterExit") {
                let _ = a; // A oneshot stays up once up.sh succeeded, as s6-rc's do.
            }
            return Ok(scripts);
        }
        "simple" | "exec" | "idle" => scripts.main = Main::Exec(main_command),
        "notify" | "notify-reload" => {
            c.file("notify-socket", "");
            scripts.main = Main::Exec(main_command);
        }
        "dbus" => {
            if let Some(a) = kind.clone() {
                c.warn(&a, "readiness by a bus name is not carried over: the service counts as up once started");
            }
            scripts.main = Main::Exec(main_command);
        }
        "forking" => scripts.main = forking(c, main_command, kind.as_ref())?,
        other => {
            if let Some(a) = kind.clone() {
                c.warn(&a, format!("{other:?} is not a service type; treated as simple"));
            }
            scripts.main = Main::Exec(main_command);
        }
    }
    if let Some(a) = c.get("RemainAfterExit").cloned() {
        if values::boolean(&a.value) == Some(true) {
            c.warn(&a, "only a oneshot stays up after its process exits; a longrun is restarted or down");
        }
    }
    files::environment(c);
    restart(c, &mut scripts);
    Ok(scripts)
}

/// `Type=forking`: the daemon's foreground option when it has one ([`FOREGROUND`], nginx's
/// `daemon off;`), else the PID file.
fn forking(c: &mut Converter, mut command: Command, kind: Option<&Assignment>) -> Result<Main, ImportError> {
    let program = command.program_name().unwrap_or_default();
    if foreground(&program, &mut command) {
        c.header.push(format!("# Type=forking: {program} runs in the foreground instead, as ostler supervises it."));
        return Ok(Main::Exec(command));
    }
    let Some(pid_file) = c.get("PIDFile").map(|a| a.value.clone()) else {
        return Err(ImportError::Unsupported {
            file: c.loaded.file.clone(),
            message: format!(
                "Type=forking without PIDFile=, and {program} is not a daemon whose foreground option ostler knows: \
                 it cannot be supervised; give ExecStart= its foreground option and Type=simple, or a PIDFile="
            ),
        });
    };
    let wait = c
        .get("TimeoutStartSec")
        .or_else(|| c.get("TimeoutSec"))
        .and_then(|a| values::time_span(&a.value, 1_000_000).ok())
        .map_or(90, |us| us.map_or(90, |us| us.div_ceil(1_000_000).max(1)));
    let down_signal = c
        .get("KillSignal")
        .and_then(|a| values::signal(&a.value))
        .map_or("SIGTERM".to_string(), |s| s.as_str().to_string());
    if let Some(a) = kind {
        c.warnings.push(a.warning(format!(
            "Type=forking: {program} has no foreground option ostler knows, so run starts it, waits for {pid_file} \
             and watches that process once a second, passing stop signals on; give the daemon its foreground option \
             and Type=simple if it has one"
        )));
    }
    Ok(Main::PidFile { command, pid_file, wait, down_signal })
}

/// Puts a forking daemon's foreground option into its command; false when it has none known.
pub fn foreground(program: &str, command: &mut Command) -> bool {
    if program == "nginx" {
        let at = command.words.iter().position(|w| w.text().as_deref() == Some("-g"));
        match at.and_then(|at| command.words.get(at + 1).and_then(Word::text).map(|text| (at + 1, text))) {
            Some((at, text)) => {
                let text = if text.contains("daemon on;") {
                    text.replace("daemon on;", "daemon off;")
                } else if text.contains("daemon off;") {
                    text
                } else {
                    format!("daemon off; {text}")
                };
                command.words[at] = Word::plain(&text);
            }
            None => command.words.splice(1..1, [Word::plain("-g"), Word::plain("daemon off;")]).for_each(drop),
        }
        return true;
    }
    let Some((_, option)) = FOREGROUND.iter().find(|(p, _)| *p == program) else { return false };
    if !command.words.iter().any(|w| w.text().as_deref() == Some(option)) {
        command.words.insert(1, Word::plain(option));
    }
    true
}

/// `StandardInput=`, `StandardOutput=`, `StandardError=`, `TTYPath=`, `IgnoreSIGPIPE=`.
fn standard_streams(c: &mut Converter, scripts: &mut Scripts) {
    let stream = |value: &str| -> Option<String> {
        Some(match value {
            "journal" | "syslog" | "kmsg" | "journal+console" | "syslog+console" | "kmsg+console" | "inherit" => {
                String::new()
            }
            "null" => "/dev/null".into(),
            "tty" | "console" => "tty".into(),
            v if v.starts_with("file:") => format!(">{}", command::quote(&v[5..])),
            v if v.starts_with("append:") => format!(">>{}", command::quote(&v[7..])),
            v if v.starts_with("truncate:") => format!(">{}", command::quote(&v[9..])),
            _ => return None,
        })
    };
    let tty = c.get("TTYPath").map_or("/dev/console".to_string(), |a| a.value.clone());
    let mut redirect = Vec::new();
    let output = c.get("StandardOutput").cloned();
    let error = c.get("StandardError").cloned();
    let input = c.get("StandardInput").cloned();
    if let Some(a) = &input {
        match a.value.as_str() {
            "null" => {}
            "tty" | "tty-force" | "tty-fail" => {
                redirect.push(format!("<{}", command::quote(&tty)));
                let term = if tty.starts_with("/dev/tty") && tty[8..].starts_with(|ch: char| ch.is_ascii_digit()) {
                    "linux"
                } else {
                    "vt220"
                };
                scripts.setup.push(format!("export TERM=\"${{TERM:-{term}}}\""));
            }
            _ => c.warn(a, "ostler gives run /dev/null as standard input, or a tty (StandardInput=tty); nothing else"),
        }
    }
    let mut out_target = None;
    if let Some(a) = &output {
        match stream(&a.value) {
            Some(t) if t.is_empty() => {}
            Some(t) if t == "tty" => out_target = Some(format!(">{}", command::quote(&tty))),
            Some(t) if t == "/dev/null" => out_target = Some(">/dev/null".into()),
            Some(t) => out_target = Some(t),
            None => c.warn(a, "ostler's services write to their log or a file; nothing else"),
        }
    } else if input.as_ref().is_some_and(|a| a.value.starts_with("tty")) {
        out_target = Some(">&0".into());
    }
    if let Some(t) = &out_target {
        redirect.push(t.clone());
    }
    match &error {
        None => redirect.push("2>&1".into()),
        Some(a) if a.value == "inherit" => redirect.push("2>&1".into()),
        Some(a) => match stream(&a.value) {
            Some(t) if t.is_empty() => {}
            Some(t) if t == "tty" => redirect.push(format!("2>{}", command::quote(&tty))),
            Some(t) if t == "/dev/null" => redirect.push("2>/dev/null".into()),
            Some(t) => redirect.push(format!("2{t}")),
            None => c.warn(a, "ostler's services write to their log or a file; nothing else"),
        },
    }
    scripts.setup.insert(0, format!("exec {}", redirect.join(" ")));
    let ignore = c.get("IgnoreSIGPIPE").and_then(|a| values::boolean(&a.value)).unwrap_or(true);
    if ignore {
        scripts.setup.push("trap '' PIPE".into());
    }
}

/// `Restart=`, `RestartSec=`, exit statuses.
fn restart(c: &mut Converter, scripts: &mut Scripts) {
    if let Some(a) = c.get("Restart").cloned() {
        scripts.restart = match a.value.as_str() {
            "no" => Restart::No,
            "always" => Restart::Always,
            "on-success" => Restart::OnSuccess,
            "on-failure" => Restart::OnFailure,
            "on-abnormal" | "on-abort" => Restart::OnSignal,
            other => {
                c.warn(
                    &a,
                    format!("{other:?}: ostler has no watchdog or such condition; the service is not restarted"),
                );
                Restart::No
            }
        };
    }
    for (key, slot) in [
        ("SuccessExitStatus", &mut scripts.success),
        ("RestartPreventExitStatus", &mut scripts.prevent),
        ("RestartForceExitStatus", &mut scripts.force),
    ] {
        for a in c.list(key) {
            let (patterns, unknown) = values::exit_statuses(&a.value);
            slot.extend(patterns);
            if !unknown.is_empty() {
                c.warnings.push(a.warning(format!(
                    "{key}: {} is not carried over: only numbers and signal names are",
                    unknown.join(" ")
                )));
            }
        }
    }
    if let Some(a) = c.get("RestartSec").cloned() {
        match values::time_span(&a.value, 1_000_000) {
            // The supervisor waits a second before a restart (at once after a second of
            // readiness): a shorter RestartSec= is that.
            Ok(Some(us)) if us > 1_000_000 => scripts.restart_sleep_ms = Some((us - 1_000_000) / 1000),
            Ok(_) => {}
            Err(why) => c.warn(&a, why),
        }
    }
}

/// `ExecStop=`, `ExecStopPost=`, `ExecReload=`, `KillSignal=`, `KillMode=`, timeouts.
fn stopping(c: &mut Converter, scripts: &mut Scripts, oneshot: bool) {
    let mut down_signal = c.get("KillSignal").cloned().and_then(|a| match values::signal(&a.value) {
        Some(signal) => Some(signal.as_str().to_string()),
        None => {
            c.warn(&a, "not a signal");
            None
        }
    });
    let mut kill_after_ms = None;
    for (command, a) in c.commands("ExecStop") {
        if oneshot {
            scripts.stop.push(command);
            continue;
        }
        match stop_signal(&command) {
            Some((signal, retry)) => {
                down_signal = Some(signal);
                kill_after_ms = retry.map(|s| s * 1000).or(kill_after_ms);
            }
            None => c.warn(
                &a,
                "a longrun is stopped by a signal (down-signal; KillSignal=), not a command; \
                 set the signal the daemon stops on in down-signal",
            ),
        }
    }
    for (command, _) in c.commands("ExecStopPost") {
        scripts.stop_post.push(command);
    }
    for (command, a) in c.commands("ExecReload") {
        if oneshot {
            c.warn(&a, "a oneshot has no reload");
            continue;
        }
        let why = match stop_signal(&command) {
            Some((signal, _)) if signal == "SIGHUP" => format!(
                "ostler has no reload action; `ostler svc -h /run/service/{}` sends the daemon SIGHUP, as this line does",
                c.name
            ),
            Some((signal, _)) => format!(
                "ostler has no reload action; `ostler svc -s {} /run/service/{}` sends the daemon that signal (svc -h: SIGHUP)",
                signal.trim_start_matches("SIG"),
                c.name
            ),
            None => format!("ostler has no reload action; run it by hand, then `ostler svc -h /run/service/{}` if the daemon reloads on SIGHUP", c.name),
        };
        c.warn(&a, why);
    }
    if oneshot {
        if let Some(a) = c.get("KillSignal").cloned() {
            c.warn(&a, "a oneshot's scripts are not signalled to stop");
        }
    } else if let Some(signal) = down_signal {
        c.file("down-signal", format!("{signal}\n"));
    }
    if let Some(a) = c.get("KillMode").cloned() {
        match a.value.as_str() {
            "control-group" | "mixed" => {}
            // What run leaves keeps running (sshd's sessions outlive a restart of sshd).
            "process" if !oneshot => c.file("kill-mode", "process\n"),
            _ => c.warn(
                &a,
                "ostler ends what the daemon leaves in the service's control group (kill-mode control-group), \
                 or leaves all of it (kill-mode process); it never leaves the main process running",
            ),
        }
    }
    let stop = c.get("TimeoutStopSec").or_else(|| c.get("TimeoutSec")).cloned();
    if let Some(a) = stop {
        match values::time_span(&a.value, 1_000_000) {
            Ok(Some(us)) => kill_after_ms = Some(us / 1000),
            Ok(None) => kill_after_ms = None,
            Err(why) => c.warn(&a, why),
        }
    }
    let send_kill = c.get("SendSIGKILL").and_then(|a| values::boolean(&a.value)).unwrap_or(true);
    match kill_after_ms {
        Some(ms) if send_kill && !oneshot && ms > 0 => c.file("timeout-kill", format!("{ms}\n")),
        _ => {}
    }
    let start = c.get("TimeoutStartSec").or_else(|| c.get("TimeoutSec")).cloned();
    if let Some(a) = start {
        match values::time_span(&a.value, 1_000_000) {
            Ok(Some(us)) if us > 0 => c.file("timeout-up", format!("{}\n", us / 1000)),
            Ok(_) => {}
            Err(why) => c.warn(&a, why),
        }
    }
}

/// The signal an `ExecStop=`/`ExecReload=` line sends to the main process: `kill -SIG
/// $MAINPID`, or `start-stop-daemon --stop --retry SIG/N` (with N seconds before SIGKILL).
pub fn stop_signal(command: &Command) -> Option<(String, Option<u64>)> {
    let words: Vec<Option<String>> = command.words.iter().map(Word::text).collect();
    match command.program_name()?.as_str() {
        "kill" if command.uses("MAINPID") => {
            let signal = words.iter().skip(1).flatten().find_map(|w| w.strip_prefix('-').map(str::to_string));
            let signal = match signal.as_deref() {
                Some("s") => words.iter().skip_while(|w| w.as_deref() != Some("-s")).nth(1).cloned().flatten()?,
                Some(s) => s.to_string(),
                None => "TERM".into(),
            };
            Some((values::signal(&signal)?.as_str().to_string(), None))
        }
        "start-stop-daemon" if words.iter().any(|w| matches!(w.as_deref(), Some("--stop" | "-K"))) => {
            let retry =
                words.iter().skip_while(|w| !matches!(w.as_deref(), Some("--retry" | "-R"))).nth(1).cloned().flatten();
            let signal_word =
                words.iter().skip_while(|w| !matches!(w.as_deref(), Some("--signal" | "-s"))).nth(1).cloned().flatten();
            let (signal, seconds) = match retry.as_deref().and_then(|r| r.split_once('/')) {
                Some((signal, rest)) => (signal.to_string(), rest.split('/').next().and_then(|s| s.parse().ok())),
                None => (signal_word.unwrap_or_else(|| "TERM".into()), retry.and_then(|r| r.parse().ok())),
            };
            Some((values::signal(&signal)?.as_str().to_string(), seconds))
        }
        _ => None,
    }
}

mod files;
#[cfg(test)]
mod tests;

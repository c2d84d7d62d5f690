//! The files of a definition that say what the service runs with: user, groups,
//! capabilities, limits, control-group limits, directories, environment.

use super::{command, values, Converter, Scripts, LIMITS};

/// User, groups, capabilities, limits, control-group limits, directories: ostler's own files.
/// Says whether the service runs with fewer privileges than root's (for the `+` prefix).
pub(super) fn privileges(c: &mut Converter) -> bool {
    let user = c.get("User").cloned();
    let group = c.get("Group").cloned();
    match (&user, &group) {
        (Some(u), Some(g)) => c.file("user", format!("{}:{}\n", u.value, g.value)),
        (Some(u), None) => c.file("user", format!("{}\n", u.value)),
        (None, Some(g)) => c.file("user", format!("root:{}\n", g.value)),
        (None, None) => {}
    }
    let groups: Vec<String> = c.list("SupplementaryGroups").iter().map(|a| a.value.clone()).collect();
    if !groups.is_empty() {
        c.file("groups", format!("{}\n", groups.join(" ")));
    }
    let mut reduced = user.as_ref().is_some_and(|u| u.value != "root" && u.value != "0");
    for (key, file) in [("CapabilityBoundingSet", "capabilities"), ("AmbientCapabilities", "ambient-capabilities")] {
        let mut mask: Option<u64> = None;
        for a in c.list(key) {
            let inverted = a.value.trim_start().starts_with('~');
            match ostler_supervise::privileges::caps::parse(&a.value) {
                Ok(m) if inverted => mask = Some(mask.unwrap_or(ostler_supervise::privileges::caps::all()) & m),
                Ok(m) => mask = Some(mask.unwrap_or(0) | m),
                Err(why) => c.warn(&a, why),
            }
        }
        if let Some(mask) = mask {
            if key == "CapabilityBoundingSet" && mask == ostler_supervise::privileges::caps::all() {
                continue;
            }
            reduced |= key == "CapabilityBoundingSet";
            let names = ostler_supervise::privileges::caps::names(mask);
            c.file(file, if names.is_empty() { String::new() } else { format!("{}\n", names.join(" ")) });
        }
    }
    if let Some(a) = c.get("NoNewPrivileges").cloned() {
        match values::boolean(&a.value) {
            Some(true) => {
                c.file("no-new-privs", "");
                reduced = true;
            }
            Some(false) => {}
            None => c.warn(&a, "not a boolean"),
        }
    }
    let mut limits = String::new();
    for (key, resource, unit) in LIMITS {
        if let Some(a) = c.get(key).cloned() {
            match values::limit(&a.value, *unit) {
                Ok(value) => limits.push_str(&format!("{resource} {value}\n")),
                Err(why) => c.warn(&a, why),
            }
        }
    }
    if !limits.is_empty() {
        c.file("limits", limits);
    }
    for (keys, file) in [
        (&["MemoryMax", "MemoryLimit"][..], "memory-max"),
        (&["TasksMax"], "pids-max"),
        (&["CPUWeight"], "cpu-weight"),
        (&["IOWeight"], "io-weight"),
    ] {
        let Some(a) = keys.iter().filter_map(|k| c.get(k)).next_back().cloned() else { continue };
        let value = match file {
            "memory-max" => values::size(&a.value, 1024).map(|v| v.map_or("max".into(), |n| n.to_string())),
            "pids-max" if a.value == "infinity" => Ok("max".into()),
            _ => a.value.parse::<u64>().map(|n| n.to_string()).map_err(|_| format!("{:?} is not a number", a.value)),
        };
        match value {
            Ok(value) => c.file(file, format!("{value}\n")),
            Err(why) => c.warn(&a, format!("{why}; write {file} by hand")),
        }
    }
    for (key, mode_key, file) in [
        ("RuntimeDirectory", "RuntimeDirectoryMode", "runtime-directory"),
        ("StateDirectory", "StateDirectoryMode", "state-directory"),
        ("LogsDirectory", "LogsDirectoryMode", "logs-directory"),
    ] {
        let mode = c.get(mode_key).map_or_else(|| "0755".to_string(), |a| a.value.clone());
        let mut lines = String::new();
        for a in c.list(key) {
            for dir in a.value.split_whitespace() {
                if dir.contains(':') {
                    c.warnings.push(a.warning(format!(
                        "{key}={dir} is not carried over: the DIR:LINK form is not supported; make the link by hand"
                    )));
                    continue;
                }
                lines.push_str(&format!("{dir} {mode}\n"));
            }
        }
        if !lines.is_empty() {
            c.file(file, lines);
        }
    }
    if let Some(a) = c.get("UMask") {
        let text = format!("{}\n", a.value);
        c.file("umask", text);
    }
    if let Some(a) = c.get("WorkingDirectory").cloned() {
        let path = a.value.strip_prefix('-').unwrap_or(&a.value);
        c.file("working-directory", format!("{path}\n"));
    }
    reduced
}

/// Environment for a longrun: `environment/` and `environment-file`.
pub(super) fn environment(c: &mut Converter) {
    for a in c.list("Environment") {
        match command::split(&a.value) {
            Ok(words) => {
                for word in words {
                    let Some((key, value)) = word.split_once('=') else {
                        c.warn(&a, format!("{word:?} is not NAME=VALUE"));
                        continue;
                    };
                    if value.contains('\n') || value.ends_with([' ', '\t']) {
                        c.warnings.push(a.warning(format!(
                            "Environment={key}=…: the value's newline or trailing blanks are not carried over \
                             (an environment directory keeps one line, trimmed); set it in run"
                        )));
                    }
                    c.file(&format!("environment/{key}"), format!("{}\n", value.lines().next().unwrap_or_default()));
                }
            }
            Err(why) => c.warn(&a, why),
        }
    }
    let files: Vec<String> = c.list("EnvironmentFile").iter().map(|a| a.value.clone()).collect();
    if !files.is_empty() {
        c.file("environment-file", format!("{}\n", files.join("\n")));
    }
}

/// Environment for a oneshot, which the service manager runs without a supervisor: exported by
/// `up.sh` itself.
pub(super) fn oneshot_environment(c: &mut Converter, scripts: &mut Scripts) {
    for a in c.list("EnvironmentFile") {
        let (optional, path) = match a.value.strip_prefix('-') {
            Some(path) => (true, path),
            None => (false, a.value.as_str()),
        };
        let q = command::quote(path);
        let read = format!("set -a; . {q}; set +a");
        scripts.setup.push(if optional { format!("[ ! -r {q} ] || {{ {read}; }}") } else { read });
    }
    for a in c.list("Environment") {
        match command::split(&a.value) {
            Ok(words) => {
                for word in words {
                    match word.split_once('=') {
                        Some((key, value)) => scripts.setup.push(format!("export {key}={}", command::quote(value))),
                        None => c.warn(&a, format!("{word:?} is not NAME=VALUE")),
                    }
                }
            }
            Err(why) => c.warn(&a, why),
        }
    }
    // The supervisor applies these to a longrun; the service manager does not to a oneshot.
    for file in ["user", "groups", "capabilities", "ambient-capabilities", "no-new-privs", "limits", "umask"] {
        if c.files.remove(file).is_some() {
            let a = c.unit().assignments.iter().find(|a| file_of_key(&a.key) == Some(file)).cloned();
            if let Some(a) = a {
                c.warn(&a, "a oneshot runs as the service manager does; run its commands through `ostler caps` or `ostler limit` in up.sh");
            }
        }
    }
    for file in [
        "working-directory",
        "memory-max",
        "pids-max",
        "cpu-weight",
        "io-weight",
        "runtime-directory",
        "state-directory",
        "logs-directory",
    ] {
        if c.files.remove(file).is_some() {
            let a = c.unit().assignments.iter().find(|a| file_of_key(&a.key) == Some(file)).cloned();
            if let Some(a) = a {
                c.warn(&a, "a oneshot has no supervisor to apply it; do it in up.sh");
            }
        }
    }
}

/// The privilege or limit file a key is written to.
fn file_of_key(key: &str) -> Option<&'static str> {
    Some(match key {
        "User" | "Group" => "user",
        "SupplementaryGroups" => "groups",
        "CapabilityBoundingSet" => "capabilities",
        "AmbientCapabilities" => "ambient-capabilities",
        "NoNewPrivileges" => "no-new-privs",
        "UMask" => "umask",
        "WorkingDirectory" => "working-directory",
        "MemoryMax" | "MemoryLimit" => "memory-max",
        "TasksMax" => "pids-max",
        "CPUWeight" => "cpu-weight",
        "IOWeight" => "io-weight",
        "RuntimeDirectory" => "runtime-directory",
        "StateDirectory" => "state-directory",
        "LogsDirectory" => "logs-directory",
        key if key.starts_with("Limit") => "limits",
        _ => return None,
    })
}

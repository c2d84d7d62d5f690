//! `/command`: where s6-overlay images find their programs (`#!/command/with-contenv bash`,
//! `#!/command/execlineb -P`). An image that has s6-overlay keeps its own; one without gets
//! links: ostler for what ostler answers by name, the image's own execline and s6 packages
//! for the rest (Debian's `execline` in /usr/lib/execline/bin, `s6` in /usr/bin).

use std::path::{Path, PathBuf};

/// What ostler answers to by name in `/command`.
pub const OSTLER_PROGRAMS: [&str; 10] = [
    "with-contenv",
    "printcontenv",
    "s6-svc",
    "s6-svstat",
    "s6-svwait",
    "s6-svscanctl",
    "s6-setuidgid",
    "s6-rc",
    "s6-log",
    "s6-tai64nlocal",
];

/// The image's directories whose programs are linked (all of the first; from the others,
/// `execlineb` and the `s6-*` programs).
const IMAGE_DIRS: [&str; 3] = ["usr/lib/execline/bin", "usr/bin", "bin"];

/// Makes `ROOT/command` and its links (what is there already is kept); `ostler` is ostler's
/// path in the image. Returns how many links were made.
pub fn make(root: &Path, ostler: &Path) -> std::io::Result<usize> {
    let command = root.join("command");
    if !command.is_dir() {
        crate::early::make_dir(&command, 0o755)?;
    }
    let mut wanted: Vec<(String, PathBuf)> = OSTLER_PROGRAMS.iter().map(|n| (n.to_string(), ostler.into())).collect();
    for (index, dir) in IMAGE_DIRS.iter().enumerate() {
        let mut names: Vec<String> = std::fs::read_dir(root.join(dir))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| index == 0 || n == "execlineb" || n.starts_with("s6-"))
            .collect();
        names.sort();
        for name in names {
            if !wanted.iter().any(|(w, _)| *w == name) {
                wanted.push((name.clone(), Path::new("/").join(dir).join(&name)));
            }
        }
    }
    let mut made = 0;
    for (name, target) in wanted {
        match std::os::unix::fs::symlink(&target, command.join(&name)) {
            Ok(()) => made += 1,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(made)
}

/// At the container's start: the links, when the image has no `/command/with-contenv` and
/// the root lets us make them; a warning when it does not.
pub fn at_start(ostler: &Path) {
    if Path::new("/command/with-contenv").symlink_metadata().is_ok() {
        return;
    }
    let exe = std::env::current_exe().unwrap_or_else(|_| ostler.to_path_buf());
    if let Err(e) = make(Path::new("/"), &exe) {
        eprintln!(
            "ostler: warning: /command/with-contenv is missing and cannot be made ({e}): scripts that start with #!/command/… will fail; add RUN [\"{}\", \"s6-overlay\", \"links\"] to the image",
            exe.display()
        );
    }
}

//! Finding units in a root as systemd finds them: the unit directories in their order of
//! precedence (`/etc` over `/run` over `/usr/lib`), aliases (a link to another name), masks (a
//! link to `/dev/null`), templates (`getty@tty1.service` from `getty@.service`), drop-ins
//! (`NAME.d/*.conf`, by file name, the first directory's winning), and the units a root
//! enables (`/etc/systemd/system/*.target.wants/`).

use super::ImportError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The unit directories under a root, in systemd's order of precedence.
const UNIT_DIRS: &[&str] = &[
    "etc/systemd/system",
    "run/systemd/system",
    "usr/local/lib/systemd/system",
    "usr/lib/systemd/system",
    "lib/systemd/system",
];

/// A root directory holding units (`/` for the running system).
#[derive(Clone, Debug)]
pub struct Root {
    /// The root.
    pub dir: PathBuf,
}

/// A unit found: its name, its file and its drop-ins, in the order they apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The unit's own name (an alias resolved; an instance keeps its instance).
    pub name: String,
    /// The unit file (a template's for an instance).
    pub file: PathBuf,
    /// The drop-ins.
    pub drop_ins: Vec<PathBuf>,
}

/// With `.service` added when a name has no unit suffix.
pub fn with_suffix(name: &str) -> String {
    const SUFFIXES: &[&str] = &[
        ".service",
        ".socket",
        ".target",
        ".timer",
        ".path",
        ".mount",
        ".automount",
        ".swap",
        ".device",
        ".slice",
        ".scope",
    ];
    if SUFFIXES.iter().any(|s| name.ends_with(s)) {
        name.to_string()
    } else {
        format!("{name}.service")
    }
}

impl Root {
    /// The unit directories of this root that exist, each once (`/lib` is often `/usr/lib`).
    fn dirs(&self) -> Vec<PathBuf> {
        let mut seen = Vec::new();
        let mut dirs = Vec::new();
        for dir in UNIT_DIRS {
            let path = self.dir.join(dir);
            if let Ok(real) = path.canonicalize() {
                if !seen.contains(&real) {
                    seen.push(real);
                    dirs.push(path);
                }
            }
        }
        dirs
    }

    /// A link's target, inside this root.
    fn inside(&self, link: &Path, target: &Path) -> PathBuf {
        match target.strip_prefix("/") {
            Ok(relative) => self.dir.join(relative),
            Err(_) => link.parent().unwrap_or(Path::new("/")).join(target),
        }
    }

    /// The file of `name` itself (no template): the first directory's, links followed inside
    /// the root. `Ok(None)`: there is none.
    fn file_of(&self, name: &str, depth: u8) -> Result<Option<(String, PathBuf)>, ImportError> {
        for dir in self.dirs() {
            let path = dir.join(name);
            let Ok(meta) = path.symlink_metadata() else { continue };
            if !meta.file_type().is_symlink() {
                return Ok(Some((name.to_string(), path)));
            }
            let target =
                std::fs::read_link(&path).map_err(|source| ImportError::Read { path: path.clone(), source })?;
            if target == Path::new("/dev/null") {
                return Err(ImportError::Masked { name: name.to_string(), path });
            }
            let target_name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if target_name != name && depth < 8 {
                // An alias: the unit is the one it names.
                if let Some(found) = self.file_of(&target_name, depth + 1)? {
                    return Ok(Some(found));
                }
            }
            let inside = self.inside(&path, &target);
            if inside.is_file() {
                return Ok(Some((target_name, inside)));
            }
        }
        Ok(None)
    }

    /// Finds unit `name` (`ssh`, `ssh.service`, `getty@tty1.service`).
    pub fn find(&self, name: &str) -> Result<Found, ImportError> {
        let name = with_suffix(name);
        let template = template_of(&name);
        let (own, file) = match self.file_of(&name, 0)? {
            Some(found) => found,
            None => match template.as_deref().map(|t| self.file_of(t, 0)).transpose()?.flatten() {
                Some((template_name, file)) => {
                    // An alias of the template keeps the instance: `a@.service` → `b@.service`.
                    let instance = name.split_once('@').map(|(_, rest)| rest).unwrap_or_default();
                    (format!("{}{instance}", template_name.trim_end_matches(".service")), file)
                }
                None => {
                    let searched = self.dirs().iter().map(|d| d.display().to_string()).collect::<Vec<_>>();
                    return Err(ImportError::NotFound { name, searched: searched.join(", ") });
                }
            },
        };
        let mut names = Vec::new();
        if let Some(template) = template_of(&own) {
            names.push(template);
        }
        names.push(own.clone());
        if own != name {
            names.push(name);
        }
        Ok(Found { name: own, file, drop_ins: self.drop_ins(&names) })
    }

    /// The drop-ins of units `names`: every `DIR/NAME.d/*.conf`, by file name; of two with the
    /// same file name, the first directory's.
    fn drop_ins(&self, names: &[String]) -> Vec<PathBuf> {
        let mut by_name: BTreeMap<String, PathBuf> = BTreeMap::new();
        for dir in self.dirs() {
            for name in names {
                for (file_name, path) in drop_ins_in(&dir.join(format!("{name}.d"))) {
                    by_name.entry(file_name).or_insert(path);
                }
            }
        }
        by_name.into_values().collect()
    }

    /// The name a dependency names, an alias resolved (`syslog.service` → `rsyslog.service`).
    pub fn canonical(&self, name: &str) -> String {
        match self.file_of(name, 0) {
            Ok(Some((own, _))) => own,
            _ => name.to_string(),
        }
    }

    /// The units this root enables: the entries of every `*.target.wants/` and
    /// `*.target.requires/` under `/etc/systemd/system`, each with the path that enables it.
    pub fn enabled(&self) -> Vec<(String, PathBuf)> {
        let etc = self.dir.join(UNIT_DIRS[0]);
        let mut found: BTreeMap<String, PathBuf> = BTreeMap::new();
        let Ok(entries) = std::fs::read_dir(&etc) else { return Vec::new() };
        let mut dirs: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                (name.ends_with(".target.wants") || name.ends_with(".target.requires")) && p.is_dir()
            })
            .collect();
        dirs.sort();
        for dir in dirs {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                found.entry(name).or_insert_with(|| entry.path());
            }
        }
        found.into_iter().collect()
    }
}

/// The drop-ins of one `NAME.d` directory, by file name.
fn drop_ins_in(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .filter(|(name, _)| name.ends_with(".conf"))
        .collect()
}

/// The drop-ins beside a unit given by its path (`PATH.d/*.conf`), by file name.
pub fn drop_ins_beside(file: &Path) -> Vec<PathBuf> {
    let mut dir = file.as_os_str().to_owned();
    dir.push(".d");
    let mut found = drop_ins_in(Path::new(&dir));
    found.sort();
    found.into_iter().map(|(_, path)| path).collect()
}

/// The template of an instance name: `getty@tty1.service` → `getty@.service`.
pub fn template_of(name: &str) -> Option<String> {
    let (prefix, rest) = name.split_once('@')?;
    let (instance, suffix) = rest.rsplit_once('.')?;
    (!instance.is_empty()).then(|| format!("{prefix}@.{suffix}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn root() -> (tempdir::Dir, Root) {
        let dir = tempdir::Dir::new();
        let root = Root { dir: dir.0.clone() };
        (dir, root)
    }

    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                use std::sync::atomic::{AtomicU32, Ordering};
                static N: AtomicU32 = AtomicU32::new(0);
                let path = std::env::temp_dir().join(format!(
                    "ostler-locate-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::create_dir_all(&path).unwrap();
                Dir(path)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    fn write(root: &Root, path: &str, text: &str) {
        let path = root.dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn etc_wins_over_usr_lib_and_drop_ins_sort_by_name() {
        let (_guard, root) = root();
        write(&root, "usr/lib/systemd/system/a.service", "lib");
        write(&root, "etc/systemd/system/a.service", "etc");
        write(&root, "usr/lib/systemd/system/a.service.d/20-x.conf", "");
        write(&root, "usr/lib/systemd/system/a.service.d/10-y.conf", "lib");
        write(&root, "etc/systemd/system/a.service.d/10-y.conf", "etc");
        let found = root.find("a").unwrap();
        assert_eq!(found.name, "a.service");
        assert_eq!(found.file, root.dir.join("etc/systemd/system/a.service"));
        assert_eq!(
            found.drop_ins,
            [
                root.dir.join("etc/systemd/system/a.service.d/10-y.conf"),
                root.dir.join("usr/lib/systemd/system/a.service.d/20-x.conf")
            ]
        );
    }

    #[test]
    fn aliases_masks_templates() {
        let (_guard, root) = root();
        write(&root, "usr/lib/systemd/system/ssh.service", "");
        write(&root, "usr/lib/systemd/system/getty@.service", "");
        write(&root, "usr/lib/systemd/system/getty@.service.d/t.conf", "");
        std::fs::create_dir_all(root.dir.join("etc/systemd/system")).unwrap();
        symlink("/lib/systemd/system/ssh.service", root.dir.join("etc/systemd/system/sshd.service")).unwrap();
        symlink("/dev/null", root.dir.join("etc/systemd/system/gone.service")).unwrap();
        assert_eq!(root.find("sshd").unwrap().name, "ssh.service");
        assert_eq!(root.canonical("sshd.service"), "ssh.service");
        assert!(matches!(root.find("gone"), Err(ImportError::Masked { .. })));
        assert!(matches!(root.find("none"), Err(ImportError::NotFound { .. })));
        let getty = root.find("getty@tty1").unwrap();
        assert_eq!(getty.name, "getty@tty1.service");
        assert_eq!(getty.file, root.dir.join("usr/lib/systemd/system/getty@.service"));
        assert_eq!(getty.drop_ins.len(), 1);
        assert_eq!(template_of("getty@tty1.service").as_deref(), Some("getty@.service"));
        assert_eq!(template_of("getty@.service"), None);
    }

    #[test]
    fn enabled_units_are_the_targets_wants() {
        let (_guard, root) = root();
        let wants = root.dir.join("etc/systemd/system/multi-user.target.wants");
        std::fs::create_dir_all(&wants).unwrap();
        std::fs::create_dir_all(root.dir.join("etc/systemd/system/timers.target.wants")).unwrap();
        symlink("/lib/systemd/system/cron.service", wants.join("cron.service")).unwrap();
        symlink("/lib/systemd/system/x.timer", root.dir.join("etc/systemd/system/timers.target.wants/x.timer"))
            .unwrap();
        let names: Vec<String> = root.enabled().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["cron.service", "x.timer"]);
    }
}

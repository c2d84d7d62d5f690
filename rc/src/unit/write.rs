//! Writing a definition: made whole in a hidden directory beside its place (`.NAME.import-PID`,
//! which the service manager skips, as it skips every name starting with a dot), then renamed
//! into place — or exchanged with the old one (`--force`), so a reader sees the old definition
//! or the new one, never half of either. And the `default` bundle, for enabled units.

use super::{Definition, ImportError};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ImportError + '_ {
    move |source| ImportError::Write { path: path.to_path_buf(), source }
}

/// Writes `definition` into `defs`; refuses to replace an existing one unless `force`.
pub fn write(defs: &Path, definition: &Definition, force: bool) -> Result<PathBuf, ImportError> {
    let target = defs.join(&definition.name);
    let exists = target.symlink_metadata().is_ok();
    if exists && !force {
        return Err(ImportError::Exists { path: target });
    }
    std::fs::create_dir_all(defs).map_err(io(defs))?;
    let temporary = defs.join(format!(".{}.import-{}", definition.name, std::process::id()));
    let _ = std::fs::remove_dir_all(&temporary);
    let result = fill(&temporary, definition).and_then(|()| {
        if exists {
            // rustix, not nix: nix offers renameat2 on glibc only, and ostler is built for musl.
            rustix::fs::renameat_with(
                rustix::fs::CWD,
                &temporary,
                rustix::fs::CWD,
                &target,
                rustix::fs::RenameFlags::EXCHANGE,
            )
            .map_err(|e| ImportError::Write { path: target.clone(), source: e.into() })
        } else {
            std::fs::rename(&temporary, &target).map_err(io(&target))
        }
    });
    // After an exchange the temporary name holds the old definition.
    let _ = std::fs::remove_dir_all(&temporary);
    result.map(|()| target)
}

fn fill(dir: &Path, definition: &Definition) -> Result<(), ImportError> {
    std::fs::create_dir(dir).map_err(io(dir))?;
    for (path, (bytes, mode)) in &definition.files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(&path, bytes).map_err(io(&path))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode)).map_err(io(&path))?;
    }
    if !definition.dependencies.is_empty() {
        let deps = dir.join("dependencies.d");
        std::fs::create_dir_all(&deps).map_err(io(&deps))?;
        for name in &definition.dependencies {
            let path = deps.join(name);
            std::fs::write(&path, "").map_err(io(&path))?;
        }
    }
    Ok(())
}

/// Adds `names` to the `default` bundle of `defs` (made when there is none): a
/// `contents.d/NAME` file, or a line of `contents` when the bundle has that form.
pub fn enable(defs: &Path, names: &[&str]) -> Result<(), ImportError> {
    let bundle = defs.join("default");
    if !bundle.exists() {
        let type_file = bundle.join("type");
        std::fs::create_dir_all(bundle.join("contents.d")).map_err(io(&bundle))?;
        std::fs::write(&type_file, "bundle\n").map_err(io(&type_file))?;
    }
    let contents_d = bundle.join("contents.d");
    let contents = bundle.join("contents");
    if !contents_d.is_dir() && contents.is_file() {
        let text = std::fs::read_to_string(&contents).map_err(io(&contents))?;
        let listed = crate::source::names_in(&text);
        let mut text = text;
        for name in names.iter().filter(|n| !listed.iter().any(|l| l == *n)) {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(name);
            text.push('\n');
        }
        let temporary = bundle.join(".contents.new");
        std::fs::write(&temporary, text).map_err(io(&temporary))?;
        return std::fs::rename(&temporary, &contents).map_err(io(&contents));
    }
    std::fs::create_dir_all(&contents_d).map_err(io(&contents_d))?;
    for name in names {
        let path = contents_d.join(name);
        std::fs::write(&path, "").map_err(io(&path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    fn temp() -> PathBuf {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ostler-write-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn definition(run: &str) -> Definition {
        let mut files = BTreeMap::new();
        files.insert("type".to_string(), (b"longrun\n".to_vec(), 0o644));
        files.insert("run".to_string(), (run.as_bytes().to_vec(), 0o755));
        files.insert("environment/A".to_string(), (b"1\n".to_vec(), 0o644));
        Definition {
            name: "web".into(),
            unit: "web.service".into(),
            files,
            dependencies: BTreeSet::from(["db".to_string()]),
        }
    }

    #[test]
    fn written_refused_then_replaced() {
        let defs = temp();
        let path = write(&defs, &definition("one"), false).unwrap();
        assert_eq!(std::fs::read_to_string(path.join("run")).unwrap(), "one");
        assert_eq!(std::fs::metadata(path.join("run")).unwrap().permissions().mode() & 0o777, 0o755);
        assert!(path.join("dependencies.d/db").is_file());
        assert!(path.join("environment/A").is_file());
        assert!(matches!(write(&defs, &definition("two"), false), Err(ImportError::Exists { .. })));
        write(&defs, &definition("two"), true).unwrap();
        assert_eq!(std::fs::read_to_string(path.join("run")).unwrap(), "two");
        let names: Vec<_> = std::fs::read_dir(&defs).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["web"], "no temporary directory is left");
        std::fs::remove_dir_all(&defs).unwrap();
    }

    #[test]
    fn enabling_adds_to_default_in_either_form() {
        let defs = temp();
        enable(&defs, &["a", "b"]).unwrap();
        assert_eq!(std::fs::read_to_string(defs.join("default/type")).unwrap(), "bundle\n");
        assert!(defs.join("default/contents.d/a").is_file() && defs.join("default/contents.d/b").is_file());
        std::fs::remove_dir_all(defs.join("default/contents.d")).unwrap();
        std::fs::write(defs.join("default/contents"), "x\na").unwrap();
        enable(&defs, &["a", "c"]).unwrap();
        assert_eq!(std::fs::read_to_string(defs.join("default/contents")).unwrap(), "x\na\nc\n");
        std::fs::remove_dir_all(&defs).unwrap();
    }
}

//! The definitions of an s6-overlay image, as one directory the service manager reads: the
//! image's `s6-rc.d` entries linked in, the `user` and `user2` bundles, and s6-overlay's own
//! part of the tree, written by ostler (s6-overlay ships it under /package, which an image
//! without s6-overlay lacks):
//!
//! ```text
//! default = top
//! top     = base, user, legacy-services, user2          (bundles)
//! base    = legacy-cont-init                             (bundle)
//! legacy-cont-init   up: cont-init.d     down: cont-finish.d
//! legacy-services    up: services.d      down: their stop     (depends on base and user)
//! ```
//!
//! `user` may be defined in `s6-rc.d` without a `type` file (s6-overlay's quick start does
//! that, and s6-overlay writes the type at boot — into /etc); it is read here as a bundle, and
//! the image is never written to.

use super::Layout;
use std::path::Path;

/// The names s6-overlay defines itself.
const OWN: [&str; 7] = ["default", "top", "base", "legacy-cont-init", "legacy-services", "user", "user2"];

/// Writes the directory (`dir`, made here); returns warnings for the user.
pub fn write(layout: &Layout, dir: &Path, ostler: &Path) -> std::io::Result<Vec<String>> {
    std::fs::create_dir_all(dir)?;
    let mut warnings = Vec::new();
    let rc_d = layout.overlay.join("s6-rc.d");
    for entry in std::fs::read_dir(&rc_d).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let Some(text) = name.to_str() else { continue };
        if text.starts_with('.') || text == "user" || text == "user2" {
            continue;
        }
        if OWN.contains(&text) {
            warnings.push(format!(
                "{}: s6-overlay defines {text} itself; yours is left out: give it another name",
                entry.path().display()
            ));
            continue;
        }
        std::os::unix::fs::symlink(entry.path(), dir.join(&name))?;
    }
    // s6-overlay: a `user` in s6-rc.d wins over the bundle directory.
    let bundles = if rc_d.join("user").is_dir() { rc_d } else { layout.bundles.clone() };
    for name in ["user", "user2"] {
        bundle(dir, name, &contents(&bundles.join(name)))?;
    }
    bundle(dir, "default", &["top"])?;
    bundle(dir, "top", &["base", "user", "legacy-services", "user2"])?;
    bundle(dir, "base", &["legacy-cont-init"])?;
    let ostler = ostler.display();
    oneshot(dir, "legacy-cont-init", &[], &ostler, "cont-init", "cont-finish")?;
    oneshot(dir, "legacy-services", &["base", "user"], &ostler, "services-up", "services-down")?;
    Ok(warnings)
}

/// The names a bundle definition holds (`contents.d/`, `contents`), whatever its `type` says.
fn contents(definition: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(definition.join("contents.d"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| !n.starts_with('.'))
        .collect();
    if let Ok(text) = std::fs::read_to_string(definition.join("contents")) {
        names.extend(list_names(&text));
    }
    names.sort();
    names.dedup();
    names
}

/// The names of a flat list file (s6-rc's: one per line, blanks and `#` lines skipped).
fn list_names(text: &str) -> impl Iterator<Item = String> + '_ {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string)
}

fn bundle<S: AsRef<str>>(dir: &Path, name: &str, contents: &[S]) -> std::io::Result<()> {
    let at = dir.join(name);
    std::fs::create_dir(&at)?;
    std::fs::write(at.join("type"), "bundle\n")?;
    let list: String = contents.iter().map(|n| format!("{}\n", n.as_ref())).collect();
    std::fs::write(at.join("contents"), list)
}

/// A oneshot whose up and down are `ostler s6-overlay UP|DOWN`.
fn oneshot(
    dir: &Path,
    name: &str,
    dependencies: &[&str],
    ostler: &impl std::fmt::Display,
    up: &str,
    down: &str,
) -> std::io::Result<()> {
    let at = dir.join(name);
    std::fs::create_dir(&at)?;
    std::fs::write(at.join("type"), "oneshot\n")?;
    std::fs::write(at.join("up"), format!("\"{ostler}\" s6-overlay {up}\n"))?;
    std::fs::write(at.join("down"), format!("\"{ostler}\" s6-overlay {down}\n"))?;
    if !dependencies.is_empty() {
        let list: String = dependencies.iter().map(|n| format!("{n}\n")).collect();
        std::fs::write(at.join("dependencies"), list)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ostler-s6o-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "").unwrap();
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn the_quick_start_user_bundle_without_a_type_is_read_as_a_bundle() {
        let root = scratch("quick");
        let overlay = root.join("etc/s6-overlay");
        touch(&overlay.join("s6-rc.d/user/contents.d/web"));
        touch(&overlay.join("s6-rc.d/user/contents.d/.empty"));
        touch(&overlay.join("s6-rc.d/web/dependencies.d/base"));
        std::fs::write(overlay.join("s6-rc.d/web/type"), "longrun\n").unwrap();
        touch(&overlay.join("s6-rc.d/.hidden/type"));
        // Also in user-bundles.d: ignored, since s6-rc.d has a `user`.
        touch(&overlay.join("user-bundles.d/user/contents.d/other"));
        let layout =
            Layout { etc: root.join("etc"), overlay: overlay.clone(), bundles: overlay.join("user-bundles.d") };
        let out = root.join("sources");
        let warnings = write(&layout, &out, Path::new("/x/ostler")).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(read(&out.join("user/type")), "bundle\n");
        assert_eq!(read(&out.join("user/contents")), "web\n");
        assert_eq!(read(&out.join("user2/contents")), "");
        assert_eq!(std::fs::read_link(out.join("web")).unwrap(), overlay.join("s6-rc.d/web"));
        assert!(!out.join(".hidden").exists());
        assert_eq!(read(&out.join("default/contents")), "top\n");
        assert_eq!(read(&out.join("top/contents")), "base\nuser\nlegacy-services\nuser2\n");
        assert_eq!(read(&out.join("base/contents")), "legacy-cont-init\n");
        assert_eq!(read(&out.join("legacy-cont-init/up")), "\"/x/ostler\" s6-overlay cont-init\n");
        assert_eq!(read(&out.join("legacy-cont-init/down")), "\"/x/ostler\" s6-overlay cont-finish\n");
        assert_eq!(read(&out.join("legacy-services/dependencies")), "base\nuser\n");
        assert_eq!(read(&out.join("legacy-services/up")), "\"/x/ostler\" s6-overlay services-up\n");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn user_bundles_come_from_the_bundle_directory_and_our_names_are_not_taken() {
        let root = scratch("bundles");
        let overlay = root.join("etc/s6-overlay");
        std::fs::create_dir_all(overlay.join("s6-rc.d/base")).unwrap();
        let bundles = root.join("elsewhere");
        touch(&bundles.join("user/contents.d/a"));
        std::fs::create_dir_all(bundles.join("user2")).unwrap();
        std::fs::write(bundles.join("user2/contents"), "# late ones\nb\n\nc\n").unwrap();
        let layout = Layout { etc: root.join("etc"), overlay: overlay.clone(), bundles };
        let out = root.join("sources");
        let warnings = write(&layout, &out, Path::new("/x/ostler")).unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("s6-rc.d/base") && warnings[0].contains("another name"), "{warnings:?}");
        assert_eq!(read(&out.join("user/contents")), "a\n");
        assert_eq!(read(&out.join("user2/contents")), "b\nc\n");
        // Ours, not a link to the user's.
        assert!(!out.join("base").symlink_metadata().unwrap().file_type().is_symlink());
        let _ = std::fs::remove_dir_all(&root);
    }
}

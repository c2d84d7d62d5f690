//! `ostler mount-all`: each line of fstab, in file order, is planned against the mount table
//! ([`plan`], which only reads) and then carried out. One line failing never stops the next.

use super::loopdev::{self, Access};
use super::parse::{Bind, Entry, Spec};
use super::resolve::{resolve, Disks};
use super::sys::{self, FsType};
use super::{line_error, read, read_mounted, read_swaps, swap_is_active, Config, Mounted, Outcome, Problem};
use std::path::{Path, PathBuf};
use sys_mount::MountFlags;

/// Whether to act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Mount.
    Perform,
    /// Only say what would be done (`--dry-run`).
    DryRun,
}

/// What one line needs.
#[derive(Debug)]
enum Step {
    /// Nothing (`noauto`, already mounted, swap already on).
    Nothing(&'static str),
    /// Nothing, with a note.
    Note(Problem),
    /// Something is missing: a warning with `nofail`, a failure without.
    Missing(Problem),
    /// The line cannot be done as written.
    Invalid(Problem),
    /// `/` is mounted read-only and fstab wants it read-write.
    RemountRoot,
    /// swapon.
    Swapon(PathBuf),
    /// A mount, from this source.
    Mount(PathBuf),
}

/// Decides what `entry` needs, given the mount table and the active swaps.
fn plan(entry: &Entry, mounted: &[Mounted], swaps: &[PathBuf], disks: &Disks) -> Step {
    let options = &entry.options;
    if options.noauto {
        return Step::Nothing("noauto");
    }
    let spec = entry.spec.to_string();
    let found = match resolve(&entry.spec, disks) {
        // A path written with a slash is a file or device that must be there; a bare word is
        // the name of a filesystem without a device (`tmpfs`, `proc`).
        Some(path) if path.is_absolute() && !path.exists() => None,
        found => found,
    };
    if entry.is_swap() {
        return match found {
            None => Step::Missing(Problem::NotFound(spec)),
            Some(device) if swap_is_active(&device, swaps) => Step::Nothing("swap already on"),
            Some(device) => Step::Swapon(device),
        };
    }
    if options.netdev {
        return Step::Note(Problem::NetDev(spec));
    }
    if entry.target == "/" {
        let root = mounted.iter().rev().find(|m| m.target == "/");
        return match root {
            Some(root) if root.read_only && !options.read_only() => Step::RemountRoot,
            _ => Step::Nothing("already mounted"),
        };
    }
    if mounted.iter().any(|m| m.target == entry.target) {
        return Step::Nothing("already mounted");
    }
    if !Path::new(&entry.target).exists() {
        return Step::Invalid(Problem::NoMountPoint(entry.target.clone()));
    }
    let needs_file = options.bind != Bind::No || options.loop_device || !matches!(entry.spec, Spec::Path(_));
    match found {
        Some(source) if !needs_file || source.exists() => Step::Mount(source),
        _ => Step::Missing(Problem::NotFound(spec)),
    }
}

/// Mounts every line of the fstab that is not mounted yet and not `noauto`, in file order.
/// Returns the outcomes in line order; the file that cannot be read is one failure.
pub fn mount_all(config: &Config, mode: Mode) -> Vec<Outcome> {
    let (entries, mut outcomes) = match read(config) {
        Ok(read) => read,
        Err(error) => return vec![Outcome::Failed(error)],
    };
    let mut lines: Vec<usize> = outcomes.iter().map(failed_line).collect();
    for entry in &entries {
        // Read again for each line: the one before may have mounted, or made a loop device.
        let step = plan(entry, &read_mounted(config), &read_swaps(config), &config.disks);
        if let Some(outcome) = carry_out(entry, step, config, mode) {
            lines.push(entry.line);
            outcomes.push(outcome);
        }
    }
    let mut numbered: Vec<(usize, Outcome)> = lines.into_iter().zip(outcomes).collect();
    numbered.sort_by_key(|(line, _)| *line);
    numbered.into_iter().map(|(_, outcome)| outcome).collect()
}

fn failed_line(outcome: &Outcome) -> usize {
    match outcome {
        Outcome::Failed(super::FstabError::Line { line, .. }) => *line,
        _ => 0,
    }
}

/// Does what `step` says for `entry`; `None` when there is nothing to say (a line left alone,
/// outside a dry run).
fn carry_out(entry: &Entry, step: Step, config: &Config, mode: Mode) -> Option<Outcome> {
    let error = |problem| line_error(config, entry.line, problem);
    let options = &entry.options;
    let data = options.data_string();
    let target = Path::new(&entry.target);
    let dry = mode == Mode::DryRun;
    Some(match step {
        Step::Nothing(why) if dry => Outcome::Note(format!("{}: {}: {why}", entry.target, entry.spec)),
        Step::Nothing(_) => return None,
        Step::Note(problem) => Outcome::Note(error(problem).to_string()),
        Step::Missing(problem) if options.nofail => Outcome::Warning(error(problem)),
        Step::Missing(problem) | Step::Invalid(problem) => Outcome::Failed(error(problem)),
        Step::RemountRoot if dry => Outcome::Done("would remount / read-write".into()),
        Step::RemountRoot => match sys::remount(target, options.flags, data.as_deref()) {
            Ok(()) => Outcome::Done("remounted / read-write".into()),
            Err(e) => Outcome::Failed(error(Problem::Remount { target: "/".into(), how: "read-write", error: e })),
        },
        Step::Swapon(device) if dry => Outcome::Done(format!("would turn on swap on {}", device.display())),
        Step::Swapon(device) => match sys::swapon(&device, sys::swap_flags(options.priority, options.discard)) {
            Ok(()) => Outcome::Done(format!("swap on {}", device.display())),
            Err(e) => Outcome::Failed(error(Problem::Swapon { device: device.display().to_string(), error: e })),
        },
        Step::Mount(source) if dry => {
            let how = match (options.bind, options.loop_device) {
                (Bind::Bind, _) => " (bind)",
                (Bind::Recursive, _) => " (rbind)",
                (Bind::No, true) => " (through a loop device)",
                (Bind::No, false) => "",
            };
            Outcome::Done(format!("would mount {} on {} as {}{how}", source.display(), entry.target, entry.fstype))
        }
        Step::Mount(source) if options.bind != Bind::No => bind(entry, &source, config),
        Step::Mount(source) => {
            let attached = match options.loop_device {
                false => None,
                true => {
                    let access = if options.read_only() { Access::ReadOnly } else { Access::ReadWrite };
                    match loopdev::attach(&source, &config.disks.dev, access) {
                        Ok(device) => Some(device),
                        Err(e) => {
                            return Some(Outcome::Failed(error(Problem::Loop {
                                file: source.display().to_string(),
                                error: e,
                            })))
                        }
                    }
                }
            };
            let device = attached.as_ref().map_or(source.as_path(), |d| d.path.as_path());
            let fstype = match entry.fstype.as_str() {
                "auto" => FsType::Auto,
                name => FsType::Named(name),
            };
            // The loop device (its autoclear) is released after the mount holds it.
            match sys::mount(device, target, fstype, options.flags, data.as_deref()) {
                Ok(mounted_as) => {
                    let through =
                        attached.as_ref().map(|d| format!(" through {}", d.path.display())).unwrap_or_default();
                    Outcome::Done(format!("mounted {} on {} ({mounted_as}){through}", entry.spec, entry.target))
                }
                Err(e) => Outcome::Failed(error(Problem::Mount {
                    source_name: entry.spec.to_string(),
                    target: entry.target.clone(),
                    fstype: entry.fstype.clone(),
                    hint: hint(&e, options.loop_device),
                    error: e,
                })),
            }
        }
    })
}

/// A bind mount: the bind itself, then (the kernel ignores them on the first call) its flags.
fn bind(entry: &Entry, source: &Path, config: &Config) -> Outcome {
    let error = |problem| line_error(config, entry.line, problem);
    let target = Path::new(&entry.target);
    let recursive = if entry.options.bind == Bind::Recursive { MountFlags::REC } else { MountFlags::empty() };
    if let Err(e) = sys::mount(source, target, FsType::Named("none"), MountFlags::BIND | recursive, None) {
        return Outcome::Failed(error(Problem::Mount {
            source_name: source.display().to_string(),
            target: entry.target.clone(),
            fstype: "bind".into(),
            error: e,
            hint: "",
        }));
    }
    let done = Outcome::Done(format!("bound {} on {}", source.display(), entry.target));
    if entry.options.flags.is_empty() {
        return done;
    }
    match sys::remount(target, MountFlags::BIND | entry.options.flags, None) {
        Ok(()) => done,
        Err(e) => Outcome::Failed(error(Problem::Remount {
            target: entry.target.clone(),
            how: "with its bind options",
            error: e,
        })),
    }
}

/// What to do about a mount(2) error, where errno says it.
fn hint(error: &std::io::Error, loop_device: bool) -> &'static str {
    match error.raw_os_error() {
        Some(libc::ENOTBLK) if !loop_device => "; the source is not a block device: add loop for an image file",
        Some(libc::ENODEV) => "; the kernel does not know this filesystem type: load its module",
        Some(libc::EBUSY) => "; it is already mounted, or in use",
        Some(libc::EACCES | libc::EROFS) => "; the device is read-only: add ro",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fstab::parse::parse_line;

    fn entry(line: &str) -> Entry {
        parse_line(1, line).unwrap().unwrap()
    }

    fn root(read_only: bool) -> Vec<Mounted> {
        vec![Mounted { target: "/".into(), read_only }]
    }

    #[test]
    fn plans() {
        let disks = Disks {
            links: "/nonexistent/disk".into(),
            dev: "/nonexistent".into(),
            partitions: "/nonexistent/partitions".into(),
            sys_block: "/nonexistent/sys".into(),
        };
        let plan = |line: &str, mounted: &[Mounted]| plan(&entry(line), mounted, &[], &disks);
        assert!(matches!(plan("/dev/vda / ext4 defaults", &root(true)), Step::RemountRoot));
        assert!(matches!(plan("/dev/vda / ext4 ro", &root(true)), Step::Nothing(_)), "ro wanted: left ro");
        assert!(matches!(plan("/dev/vda / ext4 rw", &root(false)), Step::Nothing(_)));
        assert!(matches!(plan("LABEL=x /mnt ext4 noauto", &root(false)), Step::Nothing("noauto")));
        assert!(matches!(plan("nas:/a /mnt nfs _netdev", &root(false)), Step::Note(Problem::NetDev(_))));
        assert!(matches!(plan("LABEL=absent / ext4", &root(false)), Step::Nothing(_)), "the root is always there");
        assert!(matches!(plan("tmpfs /tmp tmpfs", &[]), Step::Mount(ref s) if s == Path::new("tmpfs")));
        let mounted = vec![Mounted { target: "/tmp".into(), read_only: false }];
        assert!(matches!(plan("tmpfs /tmp tmpfs", &mounted), Step::Nothing("already mounted")));
        assert!(matches!(plan("tmpfs /nonexistent/x tmpfs", &[]), Step::Invalid(Problem::NoMountPoint(_))));
        match plan("LABEL=data /tmp ext4", &[]) {
            Step::Missing(problem) => {
                assert_eq!(problem.to_string(), "LABEL=data: no such filesystem; add nofail if the disk may be absent")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(plan("/nonexistent/img /tmp ext4 loop", &[]), Step::Missing(_)));
        assert!(matches!(plan("/nonexistent/dir /tmp none bind", &[]), Step::Missing(_)));
        assert!(matches!(plan("/nonexistent/swap none swap sw", &[]), Step::Missing(_)));
        let swaps = [PathBuf::from("/proc/self")];
        let on = plan_swaps(&entry("/proc/self none swap sw"), &swaps, &disks);
        assert!(matches!(on, Step::Nothing("swap already on")), "{on:?}");
    }

    fn plan_swaps(entry: &Entry, swaps: &[PathBuf], disks: &Disks) -> Step {
        plan(entry, &[], swaps, disks)
    }

    #[test]
    fn a_missing_device_is_a_warning_with_nofail_and_names_the_line() {
        let config = Config::new("/etc/fstab".into());
        let line = "LABEL=data /srv ext4 nofail";
        let outcome =
            carry_out(&entry(line), Step::Missing(Problem::NotFound("LABEL=data".into())), &config, Mode::Perform);
        assert!(matches!(outcome, Some(Outcome::Warning(_))));
        assert!(carry_out(&entry(line), Step::Nothing("noauto"), &config, Mode::Perform).is_none());
        let outcome = carry_out(
            &entry("LABEL=data /srv ext4 defaults"),
            Step::Missing(Problem::NotFound("LABEL=data".into())),
            &config,
            Mode::Perform,
        );
        match outcome {
            Some(Outcome::Failed(e)) => assert_eq!(
                e.to_string(),
                "/etc/fstab:1: LABEL=data: no such filesystem; add nofail if the disk may be absent"
            ),
            other => panic!("{other:?}"),
        }
    }
}

//! systemd's unit file syntax: `[Section]` headers, `Key=Value` lines, `#` and `;` comments,
//! lines continued by a final backslash, drop-in files appended after the unit. Values are kept
//! as written (specifiers, quotes and lists are for the converter); what a setting means,
//! including an empty value resetting a list, is read with [`Unit::get`] and [`Unit::list`].

use super::Warning;
use std::path::{Path, PathBuf};

/// One `Key=Value` line, with where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    /// The section it is in (`Unit`, `Service`, `Install`).
    pub section: String,
    /// The key, as written (`ExecStart`).
    pub key: String,
    /// The value, blanks around it removed, continuation lines joined by a space.
    pub value: String,
    /// The file it is in (the unit or a drop-in).
    pub file: PathBuf,
    /// Its first line, from 1.
    pub line: usize,
}

impl Assignment {
    /// A warning about this line: `FILE:LINE: Key=value is not carried over: WHY`.
    pub fn not_carried(&self, why: impl std::fmt::Display) -> Warning {
        Warning::at(&self.file, self.line, format!("{}={} is not carried over: {why}", self.key, self.value))
    }

    /// A warning about this line with a message of its own.
    pub fn warning(&self, message: impl Into<String>) -> Warning {
        Warning::at(&self.file, self.line, message.into())
    }
}

/// A unit's every assignment, in the order systemd applies them: the unit file's, then its
/// drop-ins'.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unit {
    /// Every assignment.
    pub assignments: Vec<Assignment>,
}

impl Unit {
    /// The last assignment of `key` in `section` (a single-valued setting: the last one wins).
    pub fn get(&self, section: &str, key: &str) -> Option<&Assignment> {
        self.assignments.iter().rev().find(|a| a.section == section && a.key == key)
    }

    /// The assignments of a list-valued `key` in `section` since the last empty one (an empty
    /// value resets the list, as systemd reads it).
    pub fn list(&self, section: &str, key: &str) -> Vec<&Assignment> {
        let mut found = Vec::new();
        for assignment in self.assignments.iter().filter(|a| a.section == section && a.key == key) {
            if assignment.value.is_empty() {
                found.clear();
            } else {
                found.push(assignment);
            }
        }
        found
    }

    /// Adds the assignments of one more file (a drop-in), after those already read.
    pub fn extend(&mut self, text: &str, file: &Path, warnings: &mut Vec<Warning>) {
        self.assignments.extend(parse(text, file, warnings));
    }
}

/// Reads a unit file's text. Lines that are neither a section, a comment nor an assignment,
/// and assignments before any section, are warnings (systemd logs and skips them too).
pub fn parse(text: &str, file: &Path, warnings: &mut Vec<Warning>) -> Vec<Assignment> {
    let mut assignments = Vec::new();
    let mut section: Option<String> = None;
    let mut lines = text.lines().enumerate();
    while let Some((index, raw)) = lines.next() {
        let line_number = index + 1;
        let mut line = raw.trim().to_string();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        // A backslash at the end continues the line; comment lines inside are skipped.
        let mut continued = line.ends_with('\\');
        while continued {
            line.pop();
            line.push(' ');
            let Some((_, next)) = lines.next() else { break };
            let next = next.trim();
            if next.starts_with('#') || next.starts_with(';') {
                // Still continued: undo the blank, keep the backslash for the next turn.
                line.pop();
                line.push('\\');
                continue;
            }
            line.push_str(next);
            continued = line.ends_with('\\');
        }
        if let Some(rest) = line.strip_prefix('[') {
            match rest.strip_suffix(']') {
                Some(name) => section = Some(name.to_string()),
                None => {
                    warnings.push(Warning::at(file, line_number, format!("{line:?} is not a section header; ignored")))
                }
            }
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            let message = format!("{line:?} is not an assignment (Key=Value); ignored");
            warnings.push(Warning::at(file, line_number, message));
            continue;
        };
        let Some(section) = section.clone() else {
            let message = format!("{line:?} comes before any [Section]; ignored");
            warnings.push(Warning::at(file, line_number, message));
            continue;
        };
        assignments.push(Assignment {
            section,
            key: key.trim().to_string(),
            value: value.trim().to_string(),
            file: file.to_path_buf(),
            line: line_number,
        });
    }
    assignments
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> (Unit, Vec<String>) {
        let mut warnings = Vec::new();
        let mut unit = Unit::default();
        unit.extend(text, Path::new("u.service"), &mut warnings);
        (unit, warnings.iter().map(|w| w.to_string()).collect())
    }

    #[test]
    fn sections_keys_comments_and_blanks() {
        let (unit, warnings) = read("# c\n[Unit]\nDescription = a b \n; c\n\n[Service]\nExecStart=/bin/x -y\n");
        assert!(warnings.is_empty());
        assert_eq!(unit.get("Unit", "Description").unwrap().value, "a b");
        let start = unit.get("Service", "ExecStart").unwrap();
        assert_eq!((start.value.as_str(), start.line), ("/bin/x -y", 7));
        assert!(unit.get("Unit", "ExecStart").is_none());
    }

    #[test]
    fn continuation_lines_join_and_skip_comments() {
        let (unit, _) = read("[Service]\nExecStart=/bin/x \\\n  -a \\\n# inside\n  -b\nUser=u\n");
        let start = unit.get("Service", "ExecStart").unwrap();
        assert_eq!(start.value, "/bin/x  -a  -b");
        assert_eq!(start.line, 2);
        assert_eq!(unit.get("Service", "User").unwrap().line, 6);
    }

    #[test]
    fn an_empty_value_resets_a_list_and_the_last_single_value_wins() {
        let (unit, _) = read("[Unit]\nAfter=a\nAfter=b c\nAfter=\nAfter=d\n[Service]\nUser=x\nUser=y\n");
        let after: Vec<&str> = unit.list("Unit", "After").iter().map(|a| a.value.as_str()).collect();
        assert_eq!(after, ["d"]);
        assert_eq!(unit.get("Service", "User").unwrap().value, "y");
    }

    #[test]
    fn drop_ins_come_after_the_unit() {
        let (mut unit, _) = read("[Service]\nUser=x\n");
        let mut warnings = Vec::new();
        unit.extend("[Service]\nUser=z\n", Path::new("u.service.d/o.conf"), &mut warnings);
        let user = unit.get("Service", "User").unwrap();
        assert_eq!((user.value.as_str(), user.file.as_path()), ("z", Path::new("u.service.d/o.conf")));
    }

    #[test]
    fn bad_lines_are_warnings_with_their_line() {
        let (unit, warnings) = read("Early=1\n[Service]\nnonsense\n[Broken\nUser=u\n");
        assert_eq!(unit.assignments.len(), 1);
        assert_eq!(
            warnings,
            [
                "u.service:1: \"Early=1\" comes before any [Section]; ignored",
                "u.service:3: \"nonsense\" is not an assignment (Key=Value); ignored",
                "u.service:4: \"[Broken\" is not a section header; ignored",
            ]
        );
    }
}

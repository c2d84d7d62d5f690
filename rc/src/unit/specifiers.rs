//! Specifiers (`%i`, `%n`…): the `%` words systemd replaces in a unit's settings, resolved as
//! the system manager resolves them. Those that depend on the running machine (`%H`, `%m`,
//! `%b`, `%v`…) are left as written and said: the definition is written once, not at each start.

/// What the specifiers of one unit stand for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    /// The full unit name, `getty@tty1.service`.
    pub full: String,
    /// The part before the `@` (or before the suffix): `getty`.
    pub prefix: String,
    /// The part between `@` and the suffix: `tty1` (empty for a plain unit).
    pub instance: String,
}

impl Names {
    /// The names of unit `full` (`NAME.service` or `NAME@INSTANCE.service`).
    pub fn of(full: &str) -> Names {
        let stem = full.rsplit_once('.').map_or(full, |(stem, _)| stem);
        let (prefix, instance) = stem.split_once('@').unwrap_or((stem, ""));
        Names { full: full.to_string(), prefix: prefix.to_string(), instance: instance.to_string() }
    }
}

/// systemd's unescaping of a name: `-` is `/`, `\xNN` a byte.
pub fn unescape(name: &str) -> String {
    let mut bytes = Vec::new();
    let raw = name.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'-' => bytes.push(b'/'),
            b'\\' if raw.get(i + 1) == Some(&b'x') => {
                match std::str::from_utf8(raw.get(i + 2..i + 4).unwrap_or_default())
                    .ok()
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                {
                    Some(byte) => {
                        bytes.push(byte);
                        i += 3;
                    }
                    None => bytes.push(b'\\'),
                }
            }
            byte => bytes.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Replaces the specifiers of `value`. Returns the text and the specifiers left as written
/// (unknown, or known only on the running machine).
pub fn expand(value: &str, names: &Names) -> (String, Vec<char>) {
    let mut out = String::with_capacity(value.len());
    let mut left = Vec::new();
    let mut chars = value.chars();
    let last_part = |prefix: &str| prefix.rsplit('-').next().unwrap_or(prefix).to_string();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(spec) = chars.next() else {
            out.push('%');
            break;
        };
        let replacement = match spec {
            '%' => "%".to_string(),
            'n' => names.full.clone(),
            'N' => names.full.rsplit_once('.').map_or(names.full.clone(), |(stem, _)| stem.to_string()),
            'p' => names.prefix.clone(),
            'P' => unescape(&names.prefix),
            'i' => names.instance.clone(),
            'I' => unescape(&names.instance),
            'j' => last_part(&names.prefix),
            'J' => unescape(&last_part(&names.prefix)),
            'f' => {
                let name = if names.instance.is_empty() { &names.prefix } else { &names.instance };
                let path = unescape(name);
                if path.starts_with('/') {
                    path
                } else {
                    format!("/{path}")
                }
            }
            // The system manager's user: root.
            'u' | 'g' => "root".to_string(),
            'U' | 'G' => "0".to_string(),
            'h' => "/root".to_string(),
            's' => "/bin/sh".to_string(),
            't' => "/run".to_string(),
            'S' => "/var/lib".to_string(),
            'C' => "/var/cache".to_string(),
            'L' => "/var/log".to_string(),
            'E' => "/etc".to_string(),
            'T' => "/tmp".to_string(),
            'V' => "/var/tmp".to_string(),
            other => {
                left.push(other);
                out.push('%');
                out.push(other);
                continue;
            }
        };
        out.push_str(&replacement);
    }
    (out, left)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_plain_and_instantiated_units() {
        assert_eq!(
            Names::of("getty@tty1.service"),
            Names { full: "getty@tty1.service".into(), prefix: "getty".into(), instance: "tty1".into() }
        );
        assert_eq!(Names::of("ssh.service").instance, "");
        assert_eq!(Names::of("ssh.service").prefix, "ssh");
    }

    #[test]
    fn every_specifier() {
        let names = Names::of("sys-fs@dev-sda1\\x2dx.service");
        let (text, left) = expand("%n|%N|%p|%P|%i|%I|%j|%f|%u|%U|%h|%t|%S|%C|%L|%%|%H", &names);
        assert_eq!(
            text,
            "sys-fs@dev-sda1\\x2dx.service|sys-fs@dev-sda1\\x2dx|sys-fs|sys/fs|dev-sda1\\x2dx|dev/sda1-x|fs|/dev/sda1-x\
             |root|0|/root|/run|/var/lib|/var/cache|/var/log|%|%H"
        );
        assert_eq!(left, ['H']);
    }

    #[test]
    fn a_trailing_percent_stays() {
        assert_eq!(expand("100%", &Names::of("a.service")).0, "100%");
    }
}

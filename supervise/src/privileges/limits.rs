//! Resource limits: the `limits` file (`RESOURCE SOFT[:HARD]` lines, systemd's `LimitX=`
//! values) and `ostler limit`'s flags (s6-softlimit's).

/// One limit to set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// The resource (`RLIMIT_*`).
    pub resource: Resource,
    /// The soft limit; `None` = as high as the hard one.
    pub soft: Option<u64>,
    /// The hard limit; `None` = leave it.
    pub hard: Option<u64>,
}

/// A resource, as setrlimit takes it (libc's type differs between glibc and musl).
pub type Resource = i32;

/// `RLIM_INFINITY`.
pub const INFINITY: u64 = u64::MAX;

/// The resources by the names the `limits` file uses (systemd's `LimitNAME=` in lower case).
pub const NAMES: &[(&str, Resource)] = &[
    ("as", libc::RLIMIT_AS as Resource),
    ("core", libc::RLIMIT_CORE as Resource),
    ("cpu", libc::RLIMIT_CPU as Resource),
    ("data", libc::RLIMIT_DATA as Resource),
    ("fsize", libc::RLIMIT_FSIZE as Resource),
    ("locks", libc::RLIMIT_LOCKS as Resource),
    ("memlock", libc::RLIMIT_MEMLOCK as Resource),
    ("msgqueue", libc::RLIMIT_MSGQUEUE as Resource),
    ("nice", libc::RLIMIT_NICE as Resource),
    ("nofile", libc::RLIMIT_NOFILE as Resource),
    ("nproc", libc::RLIMIT_NPROC as Resource),
    ("rss", libc::RLIMIT_RSS as Resource),
    ("rtprio", libc::RLIMIT_RTPRIO as Resource),
    ("rttime", libc::RLIMIT_RTTIME as Resource),
    ("sigpending", libc::RLIMIT_SIGPENDING as Resource),
    ("stack", libc::RLIMIT_STACK as Resource),
];

/// Parses the `limits` file: a line per resource, `NAME SOFT[:HARD]` (a single value sets
/// both, as systemd's `LimitNOFILE=4096` does), values numbers (K, M, G suffixes: ×1024) or
/// `infinity`; `#` comments. The error says the line and the fix.
pub fn parse_file(text: &str) -> Result<Vec<Limit>, String> {
    let mut limits = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let at = |message: String| format!("line {}: {message}", number + 1);
        let mut words = line.split_whitespace();
        let (Some(name), Some(value), None) = (words.next(), words.next(), words.next()) else {
            return Err(at(format!("{line:?} is not `RESOURCE SOFT[:HARD]`, e.g. `nofile 1024:4096`")));
        };
        let resource = NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, r)| *r).ok_or_else(|| {
            let known: Vec<&str> = NAMES.iter().map(|(n, _)| *n).collect();
            at(format!("{name:?} is not a resource; use one of {}", known.join(" ")))
        })?;
        let (soft, hard) = match value.split_once(':') {
            Some((soft, hard)) => (amount(soft), amount(hard)),
            None => (amount(value), amount(value)),
        };
        match (soft, hard) {
            (Some(soft), Some(hard)) if soft <= hard => {
                limits.push(Limit { resource, soft: Some(soft), hard: Some(hard) })
            }
            (Some(_), Some(_)) => return Err(at(format!("{value}: the soft limit is above the hard one"))),
            _ => return Err(at(format!("{value:?} is not a number, `NUMBER[KMG]` or `infinity`"))),
        }
    }
    Ok(limits)
}

/// A limit's value: a number, optionally with K, M, G (×1024ⁿ), or `infinity`/`unlimited`.
pub fn amount(text: &str) -> Option<u64> {
    if matches!(text, "infinity" | "unlimited") {
        return Some(INFINITY);
    }
    let (digits, scale) = match text.as_bytes().last()? {
        b'K' | b'k' => (&text[..text.len() - 1], 1u64 << 10),
        b'M' | b'm' => (&text[..text.len() - 1], 1 << 20),
        b'G' | b'g' => (&text[..text.len() - 1], 1 << 30),
        _ => (text, 1),
    };
    digits.parse::<u64>().ok()?.checked_mul(scale)
}

/// s6-softlimit's flags, each with the resources it sets: `-m` is data, stack, locked memory
/// and address space together.
pub const FLAGS: &[(char, &[&str])] = &[
    ('a', &["as"]),
    ('c', &["core"]),
    ('d', &["data"]),
    ('f', &["fsize"]),
    ('l', &["memlock"]),
    ('m', &["data", "stack", "memlock", "as"]),
    ('o', &["nofile"]),
    ('p', &["nproc"]),
    ('r', &["rss"]),
    ('s', &["stack"]),
    ('t', &["cpu"]),
];

/// `ostler limit -FLAG VALUE`: soft limits only, as s6-softlimit sets them; `=` is "as high as
/// the hard limit", and a value above the hard limit is lowered to it when applied.
pub fn from_flag(flag: char, value: &str) -> Result<Vec<Limit>, String> {
    let (_, names) = FLAGS
        .iter()
        .find(|(f, _)| *f == flag)
        .ok_or_else(|| format!("-{flag} is not a limit flag; use one of -a -c -d -f -l -m -o -p -r -s -t"))?;
    let soft = match value {
        "=" => None,
        _ => Some(amount(value).ok_or_else(|| format!("-{flag} {value}: give a number, `infinity` or `=`"))?),
    };
    Ok(names
        .iter()
        .filter_map(|name| NAMES.iter().find(|(n, _)| n == name))
        .map(|(_, resource)| Limit { resource: *resource, soft, hard: None })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_lines_with_soft_and_hard() {
        let limits = parse_file("# for nginx\nnofile 1024:4096\nCORE infinity\nmemlock 64K\n").unwrap();
        let nofile = libc::RLIMIT_NOFILE as Resource;
        assert_eq!(limits[0], Limit { resource: nofile, soft: Some(1024), hard: Some(4096) });
        assert_eq!(limits[1].soft, Some(INFINITY));
        assert_eq!(limits[2].hard, Some(65536));
        assert!(parse_file("nofile lots").unwrap_err().starts_with("line 1: "));
        assert!(parse_file("\n\nfiles 10").unwrap_err().starts_with("line 3: \"files\" is not a resource"));
        assert!(parse_file("nofile 10:5").unwrap_err().contains("above the hard"));
    }

    #[test]
    fn softlimit_flags() {
        assert_eq!(from_flag('o', "256").unwrap().len(), 1);
        assert_eq!(from_flag('m', "=").unwrap().len(), 4);
        assert_eq!(from_flag('m', "=").unwrap()[0].soft, None);
        assert!(from_flag('x', "1").is_err());
    }
}

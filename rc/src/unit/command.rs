//! `Exec*=` command lines: the prefixes (`-`, `@`, `+`, `!`, `!!`, `:`), the words (quotes and
//! C escapes as systemd splits them), the environment references (`$NAME` as a word of its
//! own splits at blanks, `${NAME}` is substituted inside a word, `$$` is a `$`), and the same
//! command written for `/bin/sh` with the same meaning.

/// One piece of a word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    /// Plain text.
    Text(String),
    /// `${NAME}`: the variable's value, as it is, inside the word.
    Var(String),
}

/// One word of a command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Word {
    /// Text and `${NAME}` references: always one word.
    Pieces(Vec<Piece>),
    /// `$NAME` standing alone: the value split at blanks, possibly no word at all.
    Split(String),
}

impl Word {
    /// The word as plain text, when it holds no variable.
    pub fn text(&self) -> Option<String> {
        match self {
            Word::Split(_) => None,
            Word::Pieces(pieces) => pieces
                .iter()
                .map(|p| match p {
                    Piece::Text(text) => Some(text.as_str()),
                    Piece::Var(_) => None,
                })
                .collect(),
        }
    }

    /// A word of plain text.
    pub fn plain(text: &str) -> Word {
        Word::Pieces(vec![Piece::Text(text.to_string())])
    }

    /// The word written for the shell, with the same value.
    pub fn shell(&self) -> String {
        match self {
            Word::Split(name) => format!("${{{name}}}"),
            Word::Pieces(pieces) if pieces.is_empty() => "''".into(),
            Word::Pieces(pieces) => pieces
                .iter()
                .map(|piece| match piece {
                    Piece::Text(text) => quote(text),
                    Piece::Var(name) => format!("\"${{{name}}}\""),
                })
                .collect(),
        }
    }

    /// Whether the word names variable `name`.
    pub fn uses(&self, name: &str) -> bool {
        match self {
            Word::Split(var) => var == name,
            Word::Pieces(pieces) => pieces.iter().any(|p| matches!(p, Piece::Var(var) if var == name)),
        }
    }
}

/// A text quoted for the shell (left as it is when nothing in it is special).
pub fn quote(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/-_.,:=+@%".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// An `Exec*=` line, read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Command {
    /// `-`: a failure of the command counts as success.
    pub ignore_failure: bool,
    /// `@`: the second word is argv[0] (dropped here: the shell cannot set it).
    pub argv0: Option<String>,
    /// `+`: run with full privileges, without the user and capabilities of the service.
    pub full_privileges: bool,
    /// The words, the program first.
    pub words: Vec<Word>,
}

impl Command {
    /// The program's file name (`sshd` for `/usr/sbin/sshd`), when it is plain text.
    pub fn program_name(&self) -> Option<String> {
        let program = self.words.first()?.text()?;
        Some(program.rsplit('/').next().unwrap_or(&program).to_string())
    }

    /// The command written for the shell.
    pub fn shell(&self) -> String {
        self.words.iter().map(Word::shell).collect::<Vec<_>>().join(" ")
    }

    /// Whether any word names variable `name`.
    pub fn uses(&self, name: &str) -> bool {
        self.words.iter().any(|w| w.uses(name))
    }
}

/// Reads an `Exec*=` value (specifiers already replaced).
pub fn parse(value: &str) -> Result<Command, String> {
    let mut command = Command::default();
    let mut rest = value.trim_start();
    let mut no_substitution = false;
    loop {
        match rest.chars().next() {
            Some('-') => command.ignore_failure = true,
            Some('@') => command.argv0 = Some(String::new()),
            Some('+') => command.full_privileges = true,
            // `!` and `!!`: the user is applied, only sandboxing (which ostler has not) is not.
            Some('!') => {}
            Some(':') => no_substitution = true,
            _ => break,
        }
        rest = &rest[1..];
    }
    let mut raw = split(rest)?;
    if raw.is_empty() {
        return Err("no command".into());
    }
    if command.argv0.is_some() {
        command.argv0 = Some(if raw.len() > 1 { raw.remove(1) } else { String::new() });
    }
    command.words = raw.into_iter().map(|w| if no_substitution { Word::plain(&w) } else { substitute(&w) }).collect();
    Ok(command)
}

/// Splits at blanks, with `"…"` and `'…'` quotes and C escapes, as systemd splits a command.
pub fn split(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(words);
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while let Some(c) = chars.next() {
            match (quote, c) {
                (None, c) if c.is_whitespace() => break,
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (_, '\\') => word.push(escape(&mut chars)?),
                (_, c) => word.push(c),
            }
        }
        if let Some(q) = quote {
            return Err(format!("a {q} quote is never closed"));
        }
        words.push(word);
    }
}

/// The character a C escape stands for (after its backslash).
fn escape(chars: &mut std::iter::Peekable<std::str::Chars>) -> Result<char, String> {
    let hex = |chars: &mut std::iter::Peekable<std::str::Chars>, n: usize, radix: u32| {
        let digits: String = (0..n).filter_map(|_| chars.next()).collect();
        u32::from_str_radix(&digits, radix)
            .ok()
            .and_then(char::from_u32)
            .ok_or_else(|| format!("bad escape {digits:?}"))
    };
    Ok(match chars.next().ok_or("a backslash ends the line")? {
        'a' => '\x07',
        'b' => '\x08',
        'f' => '\x0c',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\x0b',
        's' => ' ',
        'x' => hex(chars, 2, 16)?,
        'u' => hex(chars, 4, 16)?,
        'U' => hex(chars, 8, 16)?,
        d @ '0'..='7' => {
            let rest: String = (0..2).filter_map(|_| chars.next()).collect();
            u32::from_str_radix(&format!("{d}{rest}"), 8)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| format!("bad escape \\{d}{rest}"))?
        }
        other => other,
    })
}

/// A word's environment references: `$NAME` alone, `${NAME}` anywhere, `$$`.
fn substitute(word: &str) -> Word {
    let is_name = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if let Some(name) = word.strip_prefix('$').filter(|n| is_name(n)) {
        return Word::Split(name.to_string());
    }
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest = word;
    while let Some(at) = rest.find('$') {
        text.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(after) = rest.strip_prefix("$$") {
            text.push('$');
            rest = after;
        } else if let Some((name, after)) = rest.strip_prefix("${").and_then(|r| r.split_once('}')) {
            if is_name(name) {
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Var(name.to_string()));
            } else {
                text.push_str(&rest[..name.len() + 3]);
            }
            rest = after;
        } else {
            text.push('$');
            rest = &rest[1..];
        }
    }
    text.push_str(rest);
    if !text.is_empty() || pieces.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Word::Pieces(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(value: &str) -> String {
        parse(value).unwrap().shell()
    }

    #[test]
    fn words_quotes_and_escapes() {
        assert_eq!(
            split("/bin/x -g 'daemon on; m on;' \"a b\" c\\ d").unwrap(),
            ["/bin/x", "-g", "daemon on; m on;", "a b", "c d"]
        );
        assert_eq!(split(r#"a\tb "x\"y" \x41"#).unwrap(), ["a\tb", "x\"y", "A"]);
        assert!(split("'open").is_err());
    }

    #[test]
    fn prefixes() {
        let command = parse("-@/bin/agetty agetty --noclear").unwrap();
        assert!(command.ignore_failure);
        assert_eq!(command.argv0.as_deref(), Some("agetty"));
        assert_eq!(command.shell(), "/bin/agetty --noclear");
        let command = parse("+!/bin/true").unwrap();
        assert!(command.full_privileges && !command.ignore_failure);
        assert_eq!(command.program_name().as_deref(), Some("true"));
    }

    #[test]
    fn environment_references_in_the_shell() {
        assert_eq!(shell("/usr/sbin/sshd -D $SSHD_OPTS"), "/usr/sbin/sshd -D ${SSHD_OPTS}");
        assert_eq!(shell("/bin/x --opt=${A}/b ${B}"), "/bin/x --opt=\"${A}\"/b \"${B}\"");
        assert_eq!(shell("/bin/x $$HOME a$B"), "/bin/x '$HOME' 'a$B'");
        assert_eq!(shell(":/bin/x $A"), "/bin/x '$A'");
        assert_eq!(shell("/bin/kill -HUP $MAINPID"), "/bin/kill -HUP ${MAINPID}");
        assert!(parse("/bin/kill -HUP $MAINPID").unwrap().uses("MAINPID"));
    }

    #[test]
    fn quoting_for_the_shell() {
        assert_eq!(quote("plain/path-1.2"), "plain/path-1.2");
        assert_eq!(quote("daemon on;"), "'daemon on;'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote(""), "''");
        assert_eq!(shell("/bin/echo ''"), "/bin/echo ''");
    }
}

//! execline's lexer, for a oneshot's `up` and `down`: s6-rc reads them as execline command
//! lines (lexed once, at compile time, then run as an argv), whatever their first line says. A
//! first line `#!…` is a comment like any other, so `#!/bin/sh` over `exec /some/script` runs
//! execline's `exec`, never a shell.
//!
//! The rules (execline's `execlineb` documentation, "parsing"):
//! - words are separated by blanks (space, tab, newline, carriage return, vertical tab, form
//!   feed);
//! - `#` at the start of a word starts a comment to the end of the line; elsewhere it is a
//!   character of the word;
//! - `"…"` quotes, anywhere in a word: blanks, `#`, `{` and `}` are plain characters there,
//!   `""` is an empty word; inside quotes a backslash gives C's escapes (`\a \b \t \n \v \f \r`,
//!   `\0` plus octal digits, `\x` plus two hexadecimal digits, `\\`, `\"`), and a backslash
//!   before a newline is dropped with it; outside quotes a backslash makes the next character
//!   plain;
//! - a word that is exactly `{` opens a block and `}` closes it. In the argv, each word inside a
//!   block is prefixed by one space per level of nesting, and the block ends with a word of one
//!   space fewer (an empty word at the first level): execline's own block encoding, which its
//!   programs (`foreground`, `if`, …) read.

use std::fmt;

/// Why a script is not a valid execline command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// The line (from 1) where the problem is seen.
    pub line: usize,
    /// What is wrong.
    pub what: Unbalanced,
}

/// What a [`SyntaxError`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unbalanced {
    /// A `}` with no `{` before it.
    Close,
    /// A `{` never closed (the line is the `{`'s).
    Open,
    /// A `"` never closed (the line is the `"`'s).
    Quote,
    /// A backslash at the very end of the script.
    Backslash,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = self.line;
        match self.what {
            Unbalanced::Close => write!(f, "line {line}: a }} closes no block; remove it or add the {{ it closes"),
            Unbalanced::Open => write!(f, "line {line}: this {{ is never closed; add the }} that ends its block"),
            Unbalanced::Quote => write!(f, "line {line}: this \" is never closed; add the closing \""),
            Unbalanced::Backslash => write!(f, "line {line}: the script ends with a backslash; remove it"),
        }
    }
}

/// Lexes a script into the argv execline would run (empty: the script has no command — only
/// comments and blanks).
pub fn lex(script: &[u8]) -> Result<Vec<Vec<u8>>, SyntaxError> {
    let mut lexer = Lexer { bytes: script, at: 0, line: 1, argv: Vec::new(), open: Vec::new() };
    lexer.run()?;
    if let Some(&line) = lexer.open.last() {
        return Err(SyntaxError { line, what: Unbalanced::Open });
    }
    Ok(lexer.argv)
}

struct Lexer<'a> {
    bytes: &'a [u8],
    at: usize,
    line: usize,
    argv: Vec<Vec<u8>>,
    /// The line of each open `{`, innermost last.
    open: Vec<usize>,
}

fn is_blank(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

impl Lexer<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        if byte == b'\n' {
            self.line += 1;
        }
        Some(byte)
    }

    fn run(&mut self) -> Result<(), SyntaxError> {
        while let Some(byte) = self.peek() {
            if is_blank(byte) {
                self.next();
            } else if byte == b'#' {
                while self.next().is_some_and(|b| b != b'\n') {}
            } else {
                self.word()?;
            }
        }
        Ok(())
    }

    /// One word, from its first character to the blank (or the end) after it.
    fn word(&mut self) -> Result<(), SyntaxError> {
        let mut word = Vec::new();
        // A brace counts only as a word of its own, written bare.
        let mut bare = true;
        while let Some(byte) = self.peek() {
            if is_blank(byte) {
                break;
            }
            self.next();
            match byte {
                b'"' => {
                    bare = false;
                    self.quoted(&mut word)?;
                }
                b'\\' => {
                    bare = false;
                    match self.next() {
                        Some(plain) => word.push(plain),
                        None => return Err(SyntaxError { line: self.line, what: Unbalanced::Backslash }),
                    }
                }
                other => word.push(other),
            }
        }
        match (bare, word.as_slice()) {
            (true, b"{") => self.open.push(self.line),
            (true, b"}") => {
                if self.open.pop().is_none() {
                    return Err(SyntaxError { line: self.line, what: Unbalanced::Close });
                }
                self.argv.push(vec![b' '; self.open.len()]);
            }
            _ => {
                let mut encoded = vec![b' '; self.open.len()];
                encoded.extend_from_slice(&word);
                self.argv.push(encoded);
            }
        }
        Ok(())
    }

    /// The rest of a quoted part, after its opening `"`.
    fn quoted(&mut self, word: &mut Vec<u8>) -> Result<(), SyntaxError> {
        let opened = self.line;
        let unclosed = SyntaxError { line: opened, what: Unbalanced::Quote };
        loop {
            match self.next().ok_or_else(|| unclosed.clone())? {
                b'"' => return Ok(()),
                b'\\' => {
                    let escaped = self.next().ok_or_else(|| unclosed.clone())?;
                    match escaped {
                        b'\n' => {}
                        b'a' => word.push(0x07),
                        b'b' => word.push(0x08),
                        b't' => word.push(b'\t'),
                        b'n' => word.push(b'\n'),
                        b'v' => word.push(0x0b),
                        b'f' => word.push(0x0c),
                        b'r' => word.push(b'\r'),
                        b'0' => word.push(self.number(8, 3)),
                        b'x' => word.push(self.number(16, 2)),
                        other => word.push(other),
                    }
                }
                other => word.push(other),
            }
        }
    }

    /// Up to `digits` digits in `radix` (none: 0), as one byte.
    fn number(&mut self, radix: u32, digits: usize) -> u8 {
        let mut value: u32 = 0;
        for _ in 0..digits {
            match self.peek().and_then(|b| char::from(b).to_digit(radix)) {
                Some(digit) => {
                    value = value * radix + digit;
                    self.next();
                }
                None => break,
            }
        }
        value as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(script: &str) -> Vec<String> {
        lex(script.as_bytes()).unwrap().into_iter().map(|w| String::from_utf8(w).unwrap()).collect()
    }

    #[test]
    fn a_shebang_is_a_comment_and_the_rest_is_one_command_line() {
        assert_eq!(words("#!/bin/sh\nexec /etc/rc/up-net\n"), ["exec", "/etc/rc/up-net"]);
        assert_eq!(words("#!/command/execlineb -P\n/bin/true"), ["/bin/true"]);
        assert_eq!(words("# nothing\n\n   # at all\n"), Vec::<String>::new());
        assert_eq!(words("echo a#b # a comment\n c"), ["echo", "a#b", "c"]);
    }

    #[test]
    fn blocks_are_encoded_with_a_space_per_level_and_an_end_word() {
        let script = "foreground { echo \"a b\" }\nif { foreground { true } false }\necho done";
        assert_eq!(
            words(script),
            ["foreground", " echo", " a b", "", "if", " foreground", "  true", " ", " false", "", "echo", "done"]
        );
        // Braces count only as words of their own, unquoted.
        assert_eq!(words("echo {a} \"{\" \\}"), ["echo", "{a}", "{", "}"]);
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(words(r#"printf "x\ty\n" a"b c"d """#), ["printf", "x\ty\n", "ab cd", ""]);
        assert_eq!(words("echo \"\\x41\\0101\\\"\" a\\ b"), ["echo", "AA\"", "a b"]);
        assert_eq!(words("echo \"one\\\ntwo\""), ["echo", "onetwo"]);
    }

    #[test]
    fn unbalanced_scripts_say_where() {
        let error = |script: &str| lex(script.as_bytes()).unwrap_err();
        assert_eq!(error("foreground {\n  echo hi\n"), SyntaxError { line: 1, what: Unbalanced::Open });
        assert_eq!(error("echo hi\n}\n"), SyntaxError { line: 2, what: Unbalanced::Close });
        assert_eq!(error("echo\n\"hi\n"), SyntaxError { line: 2, what: Unbalanced::Quote });
        assert_eq!(error("echo \\"), SyntaxError { line: 1, what: Unbalanced::Backslash });
        assert!(error("{\n}\n}").to_string().contains("line 3: a } closes no block"));
    }
}

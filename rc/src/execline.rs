//! execline's lexer, for a oneshot's `up` and `down`: s6-rc reads them as execline command
//! lines (lexed once, at compile time, then run as an argv), whatever their first line says. A
//! first line `#!…` is a comment like any other, so `#!/bin/sh` over `exec /some/script` runs
//! execline's `exec`, never a shell.
//!
//! The rules, as execline's parser applies them (its `el_parse`, execline 2.9):
//! - words are separated by blanks: a newline, or any byte from 1 to 32 (tab, carriage return
//!   and space among them); a NUL byte ends the script;
//! - `#` at the start of a word starts a comment to the end of the line; elsewhere it is a
//!   character of the word (a `#!` first line is a comment like any other);
//! - `"…"` quotes, anywhere in a word (`a"b c"d` is `ab cd`, `""` an empty word); inside
//!   quotes a backslash gives `\a \b \t \n \v \f \r`, a decimal `\1`…`\255` (one to three
//!   digits), an octal `\0` plus one to three digits or a hexadecimal `\0x` plus one or two
//!   (the value must be 1 to 255), drops itself and a newline, and otherwise gives the next
//!   character; a quote never closed is an error;
//! - outside quotes, a backslash makes the next character plain; between words, a backslash
//!   and a newline are dropped (a continued line);
//! - a word that is exactly `{` (then a blank) opens a block, exactly `}` (then a blank or the
//!   end) closes one. In the argv, each word inside a block is prefixed by one space per level
//!   of nesting, and a block ends with a word of one space fewer (an empty word at the first
//!   level): execline's own block encoding, which its programs (`foreground`, `if`, …) read.
//!   `{` at the very end of the script is an error. A `{` or `}` that starts a word and is
//!   followed by a backslash ends nothing: the backslash acts as between words (a newline after
//!   it continues the line, the end of the script drops the brace) and the brace, with its
//!   level's spaces, is left at the front of the next word — execlineb's own quirk, kept so a
//!   script lexes alike here and there;
//! - a quote left open at the end of the script is an error, except right after a numeric
//!   escape: execline then ends the word there;
//! - blocks nest at most [`MAX_DEPTH`] deep (ostler's limit, not execline's): each word repeats
//!   its depth in spaces, so a script of nothing but nested blocks would lex into an argv the
//!   square of its size (a megabyte of `{ ` then `x `: tens of gigabytes).

use std::fmt;

/// Why a script is not a valid execline command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// The line (from 1) where the problem is seen.
    pub line: usize,
    /// What is wrong.
    pub what: Wrong,
}

/// What a [`SyntaxError`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wrong {
    /// A `}` with no `{` before it (s6-rc-compile: "unmatched }").
    Close,
    /// A `{` never closed (s6-rc-compile: "unmatched {"; the line is the last `{` left open).
    Open,
    /// A `"` never closed (the line is the `"`'s).
    Quote,
    /// A backslash at the end of the script, inside a word or quotes.
    Backslash,
    /// An escape in quotes that gives no byte from 1 to 255 (`\0`, `\256`, `\0x`…).
    Escape,
    /// A `{` at the very end of the script.
    OpenAtEnd,
    /// A block nested deeper than [`MAX_DEPTH`] (the line is its `{`'s).
    Deep,
}

/// The deepest a block may nest; real scripts stay below ten.
pub const MAX_DEPTH: usize = 64;

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = self.line;
        match self.what {
            Wrong::Close => write!(f, "unmatched }} on line {line}; remove it or add the {{ it closes"),
            Wrong::Open => write!(f, "unmatched {{ (line {line}); add the }} that ends its block"),
            Wrong::Quote => write!(f, "the \" on line {line} is never closed; add the closing \""),
            Wrong::Backslash => write!(f, "a backslash ends the script on line {line}; remove it"),
            Wrong::Escape => {
                write!(f, "a backslash escape on line {line} gives no byte from 1 to 255; write \\\\ for a backslash")
            }
            Wrong::OpenAtEnd => write!(f, "a {{ ends the script on line {line}; remove it or finish its block"),
            Wrong::Deep => write!(
                f,
                "the block opened on line {line} nests deeper than {MAX_DEPTH}; move its inner blocks to a script of their own"
            ),
        }
    }
}

/// Lexes a script into the argv execline would run (empty: the script has no command — only
/// comments and blanks).
pub fn lex(script: &[u8]) -> Result<Vec<Vec<u8>>, SyntaxError> {
    // A NUL byte ends the script, as in a C string.
    let end = script.iter().position(|&b| b == 0).unwrap_or(script.len());
    let mut lexer =
        Lexer { bytes: &script[..end], at: 0, line: 1, argv: Vec::new(), open: Vec::new(), pending: Vec::new() };
    lexer.run()?;
    if let Some(&line) = lexer.open.last() {
        return Err(SyntaxError { line, what: Wrong::Open });
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
    /// Bytes the next word starts with: a leading brace followed by a backslash stays there.
    pending: Vec<u8>,
}

/// What separates words: a newline, or a byte from 1 to 32.
fn is_blank(byte: u8) -> bool {
    (1..=32).contains(&byte)
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

    fn error(&self, what: Wrong) -> SyntaxError {
        SyntaxError { line: self.line, what }
    }

    /// Between words.
    fn run(&mut self) -> Result<(), SyntaxError> {
        while let Some(byte) = self.next() {
            match byte {
                _ if is_blank(byte) => {}
                b'#' => while self.next().is_some_and(|b| b != b'\n') {},
                b'\\' => self.escaped_between_words()?,
                b'"' => {
                    let mut word = Vec::new();
                    // Closed or not (see `quoted`), the word goes on to its end.
                    self.quoted(&mut word)?;
                    self.word(word)?;
                }
                b'{' | b'}' if self.peek().is_none_or(is_blank) => self.brace(byte)?,
                b'{' | b'}' if self.peek() == Some(b'\\') => {
                    self.next();
                    let brace = self.start_word([byte]);
                    self.pending = brace;
                    self.escaped_between_words()?;
                }
                other => self.word(vec![other])?,
            }
        }
        Ok(())
    }

    /// After a backslash between words: a newline continues the line, the end of the script
    /// ends it, any other character starts a word, plain (even a brace or a quote).
    fn escaped_between_words(&mut self) -> Result<(), SyntaxError> {
        match self.next() {
            None | Some(b'\n') => Ok(()),
            Some(plain) => self.word(vec![plain]),
        }
    }

    /// A word's first bytes: what is pending, the block level's spaces, then `first`.
    fn start_word(&mut self, first: impl AsRef<[u8]>) -> Vec<u8> {
        let mut word = std::mem::take(&mut self.pending);
        word.resize(word.len() + self.open.len(), b' ');
        word.extend_from_slice(first.as_ref());
        word
    }

    /// A brace standing alone: a block opens or closes.
    fn brace(&mut self, brace: u8) -> Result<(), SyntaxError> {
        if brace == b'{' {
            if self.peek().is_none() {
                return Err(self.error(Wrong::OpenAtEnd));
            }
            // Bounds the argv to the script's size times the depth (see the module's doc).
            if self.open.len() == MAX_DEPTH {
                return Err(self.error(Wrong::Deep));
            }
            self.open.push(self.line);
            return Ok(());
        }
        if self.open.pop().is_none() {
            return Err(self.error(Wrong::Close));
        }
        let end = self.start_word(b"");
        self.argv.push(end);
        Ok(())
    }

    /// The rest of a word begun with `word`, to the blank (or the end) after it.
    fn word(&mut self, mut word: Vec<u8>) -> Result<(), SyntaxError> {
        while let Some(byte) = self.peek() {
            if is_blank(byte) {
                break;
            }
            self.next();
            match byte {
                b'"' => {
                    if !self.quoted(&mut word)? {
                        break;
                    }
                }
                b'\\' => match self.next() {
                    Some(plain) => word.push(plain),
                    None => return Err(self.error(Wrong::Backslash)),
                },
                other => word.push(other),
            }
        }
        let encoded = self.start_word(word);
        self.argv.push(encoded);
        Ok(())
    }

    /// The rest of a quoted part, after its opening `"`: `true` when its `"` closes it, `false`
    /// when the script ends right after a numeric escape (which ends the word, as in execline).
    fn quoted(&mut self, word: &mut Vec<u8>) -> Result<bool, SyntaxError> {
        let unclosed = self.error(Wrong::Quote);
        loop {
            match self.next().ok_or_else(|| unclosed.clone())? {
                b'"' => return Ok(true),
                b'\\' => {
                    let escaped = self.next().ok_or_else(|| self.error(Wrong::Backslash))?;
                    match escaped {
                        b'\n' => {}
                        b'a' => word.push(0x07),
                        b'b' => word.push(0x08),
                        b't' => word.push(b'\t'),
                        b'n' => word.push(b'\n'),
                        b'v' => word.push(0x0b),
                        b'f' => word.push(0x0c),
                        b'r' => word.push(b'\r'),
                        b'0'..=b'9' => {
                            word.push(self.numeric(escaped)?);
                            if self.peek().is_none() {
                                return Ok(false);
                            }
                        }
                        other => word.push(other),
                    }
                }
                other => word.push(other),
            }
        }
    }

    /// A numeric escape begun with `first` (a digit): decimal, or octal or hexadecimal after `0`.
    fn numeric(&mut self, first: u8) -> Result<u8, SyntaxError> {
        let value = match first {
            b'0' if self.peek() == Some(b'x') => {
                self.next();
                let digit = self.digit(16).ok_or_else(|| self.error(Wrong::Escape))?;
                self.number(digit, 16, 1)
            }
            b'0' => {
                let digit = self.digit(8).ok_or_else(|| self.error(Wrong::Escape))?;
                self.number(digit, 8, 2)
            }
            decimal => self.number(u32::from(decimal - b'0'), 10, 2),
        };
        self.byte(value)
    }

    /// The next byte as a digit in `radix`, taken; `None` (nothing taken) when it is not one.
    fn digit(&mut self, radix: u32) -> Option<u32> {
        let digit = self.peek().and_then(|b| char::from(b).to_digit(radix))?;
        self.next();
        Some(digit)
    }

    /// `value` continued by up to `more` digits in `radix`.
    fn number(&mut self, mut value: u32, radix: u32, more: usize) -> u32 {
        for _ in 0..more {
            match self.digit(radix) {
                Some(digit) => value = value * radix + digit,
                None => break,
            }
        }
        value
    }

    /// An escape's value as a byte: 1 to 255.
    fn byte(&self, value: u32) -> Result<u8, SyntaxError> {
        match u8::try_from(value) {
            Ok(byte) if byte != 0 => Ok(byte),
            _ => Err(self.error(Wrong::Escape)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(script: &str) -> Vec<String> {
        lex(script.as_bytes()).unwrap().into_iter().map(|w| String::from_utf8(w).unwrap()).collect()
    }

    fn error(script: &str) -> SyntaxError {
        lex(script.as_bytes()).unwrap_err()
    }

    #[test]
    fn a_shebang_is_a_comment_and_the_rest_is_one_command_line() {
        assert_eq!(words("#!/bin/sh\nexec /etc/rc/up-net\n"), ["exec", "/etc/rc/up-net"]);
        assert_eq!(words("#!/command/execlineb -P\n/bin/true"), ["/bin/true"]);
        assert_eq!(words("# nothing\n\n   # at all\n"), Vec::<String>::new());
        assert_eq!(words("echo a#b # a comment\n c"), ["echo", "a#b", "c"]);
        assert_eq!(words("a\rb\x01c\0ignored"), ["a", "b", "c"], "bytes 1-32 separate, NUL ends");
    }

    #[test]
    fn blocks_are_encoded_with_a_space_per_level_and_an_end_word() {
        let script = "foreground { echo \"a b\" }\nif { foreground { true } false }\necho done";
        assert_eq!(
            words(script),
            ["foreground", " echo", " a b", "", "if", " foreground", "  true", " ", " false", "", "echo", "done"]
        );
        assert_eq!(words("if { if { true } } x"), ["if", " if", "  true", " ", "", "x"]);
        assert_eq!(words("x { \"\" }"), ["x", " ", ""]);
        // Braces count only as words of their own, unescaped and unquoted.
        assert_eq!(words("echo {a} a{ {} \"{\" \\} {# }x"), ["echo", "{a}", "a{", "{}", "{", "}", "{#", "}x"]);
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(words(r#"printf "x\ty\n" a"b c"d """#), ["printf", "x\ty\n", "ab cd", ""]);
        assert_eq!(words(r#"e "\0x41\0101\65\"\x41" a\ b"#), ["e", "AAA\"x41", "a b"]);
        assert_eq!(words(r#"e "\1234""#), ["e", "{4"], "three decimal digits at most");
        assert_eq!(words("echo \"one\\\ntwo\""), ["echo", "onetwo"], "a quoted backslash-newline is dropped");
        assert_eq!(words("a\\\nb"), ["a\nb"], "inside a word, a backslash keeps the newline");
        assert_eq!(words("a \\\n b \\"), ["a", "b"], "between words, it continues the line");
    }

    #[test]
    fn unbalanced_scripts_say_where() {
        assert_eq!(error("foreground {\n  echo hi\n"), SyntaxError { line: 1, what: Wrong::Open });
        assert_eq!(error("echo hi\n}\n"), SyntaxError { line: 2, what: Wrong::Close });
        assert_eq!(error("echo\n\"hi\n"), SyntaxError { line: 2, what: Wrong::Quote });
        assert_eq!(error("echo a\\"), SyntaxError { line: 1, what: Wrong::Backslash });
        assert_eq!(error("echo {"), SyntaxError { line: 1, what: Wrong::OpenAtEnd });
        for bad in [r#""\0""#, r#""\256""#, r#""\0400""#, r#""\0xg""#, r#""\08""#] {
            assert_eq!(error(bad).what, Wrong::Escape, "{bad}");
        }
        assert!(error("{\n}\n}").to_string().starts_with("unmatched } on line 3"));
    }

    #[test]
    fn execlineb_quirks_kept() {
        // A quote left open right after a numeric escape ends the word.
        assert_eq!(words("e \"\\65"), ["e", "A"]);
        assert_eq!(error("e \"\\n").what, Wrong::Quote);
        // A leading brace then a backslash: the brace waits at the front of the next word.
        assert_eq!(words("{\\"), Vec::<String>::new());
        assert_eq!(words("}\\\nx"), ["}x"]);
        assert_eq!(words("x { {\\b }"), ["x", " { b", ""]);
        assert_eq!(error("{\\\n} ").what, Wrong::Close);
    }
}

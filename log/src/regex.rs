//! POSIX extended regular expressions through the C library's `regcomp`/`regexec`, so that
//! `+re` and `-re` mean exactly what they mean to s6-log: an unanchored search, in the C
//! locale (a Rust program never calls `setlocale`), bytes compared as bytes.

use std::ffi::{CStr, CString};

/// A compiled ERE.
pub struct Regex {
    /// Boxed: the C library may keep pointers into it, so it must not move.
    compiled: Box<libc::regex_t>,
    pattern: String,
}

impl Regex {
    /// Compiles `pattern`; the error is the C library's description of what is wrong.
    pub fn new(pattern: &[u8]) -> Result<Regex, String> {
        let text = CString::new(pattern).map_err(|_| "a NUL byte cannot be part of a pattern".to_string())?;
        // SAFETY: regex_t is a plain C struct that regcomp fills in; zeroes are a valid
        // starting value.
        let mut compiled: Box<libc::regex_t> = Box::new(unsafe { std::mem::zeroed() });
        // SAFETY: `compiled` points to writable memory of the right type and `text` is a
        // NUL-terminated string that outlives the call.
        let code = unsafe { libc::regcomp(&mut *compiled, text.as_ptr(), libc::REG_EXTENDED | libc::REG_NOSUB) };
        if code != 0 {
            let mut message = [0u8; 256];
            // SAFETY: regerror writes at most message.len() bytes, NUL-terminated, and reads
            // `compiled`, which regcomp has just set up (even on failure, as POSIX allows).
            unsafe { libc::regerror(code, &*compiled, message.as_mut_ptr().cast(), message.len()) };
            let text = CStr::from_bytes_until_nul(&message).map(|c| c.to_string_lossy().into_owned());
            return Err(text.unwrap_or_else(|_| format!("error {code}")));
        }
        Ok(Regex { compiled, pattern: String::from_utf8_lossy(pattern).into_owned() })
    }

    /// Whether the expression matches anywhere in `line`.
    pub fn is_match(&self, line: &CStr) -> bool {
        // SAFETY: `compiled` was set up by a successful regcomp; `line` is NUL-terminated; with
        // REG_NOSUB and nmatch 0, regexec writes no match array.
        unsafe { libc::regexec(&*self.compiled, line.as_ptr(), 0, std::ptr::null_mut(), 0) == 0 }
    }

    /// The expression as written.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }
}

impl Drop for Regex {
    fn drop(&mut self) {
        // SAFETY: `compiled` was set up by a successful regcomp and is freed only here.
        unsafe { libc::regfree(&mut *self.compiled) }
    }
}

impl std::fmt::Debug for Regex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Regex({:?})", self.pattern)
    }
}

/// A reusable buffer that turns a line into a C string without allocating per line.
#[derive(Debug, Default)]
pub struct CLine {
    bytes: Vec<u8>,
}

impl CLine {
    /// Holds `line` followed by a NUL.
    pub fn set(&mut self, line: &[u8]) {
        self.bytes.clear();
        self.bytes.extend_from_slice(line);
        self.bytes.push(0);
    }

    /// The line held, as a C string; `None` if it holds a NUL itself (lines never do: NUL
    /// ends a line).
    pub fn get(&self) -> Option<&CStr> {
        CStr::from_bytes_with_nul(&self.bytes).ok()
    }

    /// `set` then `get`.
    pub fn of(&mut self, line: &[u8]) -> Option<&CStr> {
        self.set(line);
        self.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, line: &str) -> bool {
        let mut c = CLine::default();
        Regex::new(pattern.as_bytes()).unwrap().is_match(c.of(line.as_bytes()).unwrap())
    }

    #[test]
    fn extended_syntax_unanchored() {
        assert!(matches("foo", "afoo"));
        assert!(!matches("^foo", "afoo"));
        assert!(matches("a{2}b", "xaab"));
        assert!(!matches("a{2}b", "ab"));
        assert!(matches("a\\+b", "a+b"));
        assert!(matches("(x|y)z", "yz"));
        assert!(!matches("AB", "ab"));
    }

    #[test]
    fn bad_patterns_are_reported() {
        let error = Regex::new(b"+(").unwrap_err();
        assert!(!error.is_empty());
        assert!(Regex::new(b"a\0b").is_err());
    }
}

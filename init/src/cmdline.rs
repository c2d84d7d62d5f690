//! The kernel command line, as stage 1 reads it from `/proc/cmdline`: a few words are ours,
//! the rest is passed on to stage 2.

/// What stage 1 takes from the kernel command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelWords {
    /// `quiet`: print only what matters.
    pub quiet: bool,
    /// `ostler.debug`: print every step.
    pub debug: bool,
    /// `emergency`, `single` or `ostler.emergency`: a root shell on the console before stage 2.
    pub emergency: bool,
    /// Every word that is neither ours nor the kernel's `key=value`, for stage 2.
    pub for_stage2: Vec<String>,
}

/// Reads the words of a command line.
pub fn parse(line: &str) -> KernelWords {
    let mut words = KernelWords::default();
    for word in line.split_whitespace() {
        match word {
            "quiet" => words.quiet = true,
            "ostler.debug" => words.debug = true,
            "emergency" | "single" | "ostler.emergency" | "-s" | "S" => words.emergency = true,
            _ if word.contains('=') || word.contains('.') => {}
            _ => words.for_stage2.push(word.to_string()),
        }
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ours_and_the_rest() {
        let words =
            parse("BOOT_IMAGE=/vmlinuz root=/dev/vda console=ttyS0 quiet ostler.debug single rescue-me panic=1\n");
        assert!(words.quiet && words.debug && words.emergency);
        assert_eq!(words.for_stage2, ["rescue-me"]);
        assert!(parse("ostler.emergency").emergency);
        assert_eq!(parse("ro").for_stage2, ["ro"]);
        assert_eq!(parse(""), KernelWords::default());
    }
}

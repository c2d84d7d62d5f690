//! `ostler completions SHELL`: the shell's completion script, from the clap definitions (the
//! same ones the man pages come from), for `ostler` or for one of the names ostler is
//! installed under (`service`, `s6-svc`…).

use clap::{Args, CommandFactory, ValueEnum};

/// Print a completion script for bash, zsh or fish.
///
/// For `ostler` itself, or with --command for a name ostler is installed under (`service`,
/// `s6-rc`, `poweroff`…): the script completes that command's options. Install it where the
/// shell looks: bash /usr/share/bash-completion/completions/NAME, zsh
/// /usr/share/zsh/vendor-completions/_NAME, fish /usr/share/fish/vendor_completions.d/NAME.fish.
#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: Shell,
    /// The command to complete: `ostler`, or a name ostler answers to (`service`, `s6-svc`…).
    #[arg(long, value_name = "NAME", default_value = "ostler")]
    pub command: String,
}

/// The shells with a completion script.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Shell {
    /// bash (with bash-completion).
    Bash,
    /// zsh.
    Zsh,
    /// fish.
    Fish,
}

pub fn run(args: CompletionsArgs) -> u8 {
    let top = super::Ostler::command();
    let command = match args.command.as_str() {
        "ostler" => top,
        name => match super::subcommand_for(name).and_then(|sub| top.find_subcommand(sub).cloned()) {
            Some(sub) => sub.name(name.to_string()),
            None => {
                eprintln!("ostler completions: {name} is not a name ostler answers to; use ostler, service, s6-svc…");
                return 100;
            }
        },
    };
    let name = command.get_name().to_string();
    let mut command = command;
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    // Into memory first: the generator panics on a failed write (a closed pipe), we do not.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, name, &mut script);
    use std::io::Write;
    match std::io::stdout().lock().write_all(&script) {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("ostler completions: unable to write the script: {e}");
            111
        }
    }
}

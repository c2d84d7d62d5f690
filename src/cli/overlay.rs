//! The s6-overlay drop-in's commands: `with-contenv`, `printcontenv` (also by argv[0]) and
//! `ostler s6-overlay …`. The work is in `ostler_init::container::s6_overlay`.

use clap::{Args, Subcommand};
use ostler_init::container::s6_overlay::{contenv, legacy, links};
use std::ffi::OsString;
use std::path::PathBuf;

/// Run a program with the container environment (s6-overlay's `with-contenv`): the variables
/// the container started with, from /run/s6/container_environment, and PATH. Does nothing
/// when S6_KEEP_ENV is set.
#[derive(Args, Debug)]
pub struct WithContenvArgs {
    /// The program and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true, value_name = "PROG")]
    pub program: Vec<OsString>,
}

/// Print a variable of the container environment (s6-overlay's `printcontenv`); exit 1 when
/// it is not set.
#[derive(Args, Debug)]
pub struct PrintcontenvArgs {
    /// The variable's name.
    pub name: String,
}

/// s6-overlay images under ostler: see docs/container.md.
#[derive(Args, Debug)]
pub struct S6OverlayArgs {
    #[command(subcommand)]
    pub command: S6OverlayCommand,
}

/// What to do.
#[derive(Subcommand, Debug)]
pub enum S6OverlayCommand {
    /// Make /command for an image without s6-overlay: with-contenv, printcontenv and the s6
    /// programs ostler answers as links to ostler, execlineb and the image's execline and s6
    /// programs as links to them. What is there already is kept. For a Containerfile:
    /// `RUN ["/init", "s6-overlay", "links"]`; at start, ostler does it by itself when the
    /// root is writable.
    Links(LinksArgs),
    /// Run /etc/cont-init.d (the `legacy-cont-init` oneshot's up).
    #[command(hide = true)]
    ContInit,
    /// Run /etc/cont-finish.d (its down).
    #[command(hide = true)]
    ContFinish,
    /// Start /etc/services.d (the `legacy-services` oneshot's up).
    #[command(hide = true)]
    ServicesUp,
    /// Stop them (its down).
    #[command(hide = true)]
    ServicesDown,
}

/// Options of `ostler s6-overlay links`.
#[derive(Args, Debug)]
pub struct LinksArgs {
    /// The image's root directory.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// ostler's path in the image. Default: this binary's when the root is /, else /init.
    #[arg(long, value_name = "PATH")]
    pub ostler: Option<PathBuf>,
}

pub fn with_contenv(args: WithContenvArgs) -> u8 {
    contenv::with_contenv(&args.program)
}

pub fn printcontenv(args: PrintcontenvArgs) -> u8 {
    contenv::printcontenv(&args.name)
}

pub fn s6_overlay(args: S6OverlayArgs) -> u8 {
    match args.command {
        S6OverlayCommand::Links(args) => make_links(args),
        S6OverlayCommand::ContInit => legacy::cont_init(),
        S6OverlayCommand::ContFinish => legacy::cont_finish(),
        S6OverlayCommand::ServicesUp => legacy::services_up(),
        S6OverlayCommand::ServicesDown => legacy::services_down(),
    }
}

fn make_links(args: LinksArgs) -> u8 {
    let ostler = args.ostler.unwrap_or_else(|| match args.root == std::path::Path::new("/") {
        true => std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/init")),
        false => PathBuf::from("/init"),
    });
    match links::make(&args.root, &ostler) {
        Ok(_) => 0,
        Err(e) => {
            eprintln!(
                "ostler s6-overlay links: unable to make {}: {e}; run it as a user who may write there",
                args.root.join("command").display()
            );
            111
        }
    }
}

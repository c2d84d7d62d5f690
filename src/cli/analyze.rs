//! `ostler analyze blame | critical-chain | plot`: options, and the glue between the timeline
//! file and `ostler_stage2::analyze`, where the work is.

use clap::{Args, Subcommand};
use ostler_stage2::analyze::{self, Timeline};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Read the boot timeline: which services were slow, what held the boot up, a boot chart.
///
/// The service manager writes one line per service it starts into /run/ostler/timeline: when
/// it was asked to start the service, when the service started, when it was ready, how it
/// ended, and what it waited for (see docs/analyze.md). Times are since boot. Exit codes: 0,
/// 100 for a usage error or a service not in the timeline, 111 when the timeline is missing,
/// empty or unreadable, or when critical-chain is given no NAME and no service was ready.
#[derive(Args, Debug)]
pub struct AnalyzeArgs {
    #[command(subcommand)]
    pub command: AnalyzeCommand,
}

/// What to show.
#[derive(Subcommand, Debug)]
pub enum AnalyzeCommand {
    /// One line per service, the slowest first: the time from started to ready, then the
    /// services that were never ready (failed, timed out, skipped) and why.
    Blame(TimelineArg),
    /// The chain of services that decided when a service was ready.
    ///
    /// From NAME, step back to the dependency that became ready last, and again, until a
    /// service waited for nothing. Each line shows when the service was ready (@) and how long
    /// it took from started to ready (+); the last line shows the time from the first service
    /// asked for to NAME ready. For a service that was never ready, the chain leads to the
    /// dependency that failed it.
    CriticalChain(ChainArgs),
    /// Write an SVG boot chart to standard output (`ostler analyze plot > boot.svg`).
    ///
    /// One bar per service, sorted by start time, on an axis of milliseconds since boot: light
    /// while it waited for its dependencies, strong from started to ready, red when it failed
    /// or timed out (up to the end of the timeline: it was never ready), grey when skipped.
    /// The critical chain of the service ready last is outlined in orange. Hovering a bar in a
    /// browser shows every time the timeline holds for it.
    Plot(TimelineArg),
}

/// The timeline to read.
#[derive(Args, Debug)]
pub struct TimelineArg {
    /// The timeline file the service manager wrote (copy it from a booted system to read it
    /// elsewhere).
    #[arg(long, value_name = "FILE", default_value = ostler_core::paths::TIMELINE)]
    pub timeline: PathBuf,
}

/// Options of `ostler analyze critical-chain`.
#[derive(Args, Debug)]
pub struct ChainArgs {
    #[command(flatten)]
    pub timeline: TimelineArg,
    /// The service whose chain to show. Default: the service that became ready last.
    pub name: Option<String>,
}

pub fn run(args: AnalyzeArgs) -> u8 {
    let (path, name) = match &args.command {
        AnalyzeCommand::Blame(arg) | AnalyzeCommand::Plot(arg) => (&arg.timeline, None),
        AnalyzeCommand::CriticalChain(chain) => (&chain.timeline.timeline, chain.name.as_deref()),
    };
    let timeline = match load(path) {
        Ok(timeline) => timeline,
        Err(code) => return code,
    };
    let text = match &args.command {
        AnalyzeCommand::Blame(_) => analyze::blame(&timeline.entries),
        AnalyzeCommand::Plot(_) => analyze::plot(&timeline.entries),
        AnalyzeCommand::CriticalChain(_) => match analyze::critical_chain(&timeline.entries, name) {
            Ok(text) => text,
            Err(e) => {
                let code = match e {
                    analyze::ChainError::Unknown { .. } => 100,
                    analyze::ChainError::NothingReady => 111,
                };
                eprintln!("ostler analyze: {}: {e}", path.display());
                return code;
            }
        },
    };
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Ok(()) => 0,
        // A reader that stopped early (`| head`) is not an error of ours.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("ostler analyze: unable to write to standard output: {e}");
            111
        }
    }
}

/// Reads the timeline, warning about skipped lines; the exit code when there is none.
fn load(path: &Path) -> Result<Timeline, u8> {
    match analyze::load(path) {
        Ok(timeline) => {
            if let Some(warning) = timeline.skipped_warning(path) {
                eprintln!("ostler analyze: {warning}");
            }
            Ok(timeline)
        }
        Err(e) => {
            eprintln!("ostler analyze: {e}");
            Err(111)
        }
    }
}

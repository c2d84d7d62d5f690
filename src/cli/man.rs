//! `ostler man DIR`: writes one roff man page per subcommand, from the clap definitions.

use clap::{Args, CommandFactory};
use std::path::PathBuf;

/// Write the man pages (ostler.1 and ostler-SUBCOMMAND.1) into a directory.
#[derive(Args, Debug)]
pub struct ManArgs {
    /// Directory to write the pages into; created if missing.
    pub dir: PathBuf,
}

pub fn run(args: ManArgs) -> u8 {
    match write_pages(&args.dir) {
        Ok(count) => {
            println!("ostler man: wrote {count} pages into {}", args.dir.display());
            0
        }
        Err(e) => {
            eprintln!(
                "ostler man: unable to write into {}: {e}; check that the directory is writable",
                args.dir.display()
            );
            111
        }
    }
}

fn write_pages(dir: &std::path::Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let top = super::Ostler::command();
    let mut count = 0;
    let mut render = |cmd: clap::Command, file: String| -> std::io::Result<()> {
        let mut out = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut out)?;
        std::fs::write(dir.join(file), out)?;
        count += 1;
        Ok(())
    };
    render(top.clone(), "ostler.1".into())?;
    // Every level gets its page (ostler-image.1, ostler-image-build.1…), as the parent's
    // page refers to them.
    let mut pending: Vec<(String, clap::Command)> =
        top.get_subcommands().map(|sub| (format!("ostler-{}", sub.get_name()), sub.clone())).collect();
    while let Some((name, cmd)) = pending.pop() {
        pending.extend(
            cmd.get_subcommands()
                .filter(|sub| sub.get_name() != "help")
                .map(|sub| (format!("{name}-{}", sub.get_name()), sub.clone())),
        );
        render(cmd.name(name.clone()), format!("{name}.1"))?;
    }
    Ok(count)
}

//! Options of the image builder (being written).

use clap::{Args, Subcommand};

/// Build bootable images.
#[derive(Args, Debug)]
pub struct ImageArgs {
    #[command(subcommand)]
    pub command: ImageCommand,
}

/// What to do with images.
#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// Build an image (being written).
    Build,
}

pub fn run(args: ImageArgs) -> u8 {
    match args.command {
        ImageCommand::Build => ostler_image::build(ostler_image::Options::default()),
    }
}

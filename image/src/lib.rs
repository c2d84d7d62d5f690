//! The image builder (being written).
#![deny(missing_docs)]

/// What to build (being written).
#[derive(Debug, Default)]
pub struct Options {}

/// Builds an image; returns the exit code.
pub fn build(_options: Options) -> u8 {
    eprintln!("ostler image build: not available yet");
    111
}

//! The release build of the static binary drops the unwind tables (.eh_frame, its index and
//! .gcc_except_table: ~190 KiB, 12 % of the binary, ~64 KB of its gzip), which the kernel would
//! otherwise unpack from every initramfs at every boot. With `panic = "abort"` nothing
//! unwinds; a panic still prints its message and location and aborts, only `RUST_BACKTRACE`'s
//! frame list (addresses alone in a stripped binary) comes out empty.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=link/discard-unwind.ld");
    let musl = std::env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|env| env == "musl");
    let release = std::env::var("PROFILE").is_ok_and(|profile| profile == "release");
    if musl && release {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("link/discard-unwind.ld");
        println!("cargo::rustc-link-arg-bin=ostler=-T{}", script.display());
    }
}

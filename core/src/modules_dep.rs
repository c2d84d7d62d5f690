//! The kernel's `modules.dep`: which file each module is, and the files it needs loaded first.
//! Stage 1 reads it to load modules in order; the image builder to copy just what is needed.

/// One line: a module file and the files it depends on, as `modules.dep` names them.
pub type Line<'a> = (&'a str, Vec<&'a str>);

/// The lines of a `modules.dep` text (`path: dep dep…`); others are skipped.
pub fn parse(text: &str) -> Vec<Line<'_>> {
    text.lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(file, deps)| (file.trim(), deps.split_whitespace().collect()))
        .collect()
}

/// A module's name from its file: `kernel/fs/ext4/ext4.ko(.xz)` → `ext4`, with `-` as `_`
/// (the kernel treats them alike, so names given by people are compared the same way).
pub fn name_of(file: &str) -> String {
    let base = file.rsplit('/').next().unwrap_or(file);
    base.split(".ko").next().unwrap_or(base).replace('-', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_names() {
        let lines = parse(
            "kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/jbd2/jbd2.ko\nnoise\nkernel/a/virtio-pci.ko.xz:\n",
        );
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], ("kernel/fs/ext4/ext4.ko", vec!["kernel/lib/crc16.ko", "kernel/fs/jbd2/jbd2.ko"]));
        assert_eq!(name_of(lines[1].0), "virtio_pci");
    }
}

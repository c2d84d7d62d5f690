//! Reading a directory's entries without allocating: getdents into a buffer on the stack.
//! `std::fs::read_dir` goes through libc's opendir, whose buffer musl maps and unmaps on every
//! call — two system calls and a fresh-page fault each time a supervisor posts an event or
//! reads a service directory.

use rustix::fs::{FileType, Mode, OFlags, RawDir};
use std::ffi::CStr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// Opens a directory for listing.
pub fn open(dir: &Path) -> std::io::Result<OwnedFd> {
    Ok(rustix::fs::open(dir, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?)
}

/// Calls `each` with the name and type of every entry of the open directory `dir` but `.`
/// and `..`, in the directory's order. The type is `Unknown` on filesystems that do not
/// say it.
pub fn each(dir: impl AsFd, mut each: impl FnMut(&CStr, FileType)) -> std::io::Result<()> {
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 4096];
    let mut entries = RawDir::new(dir, &mut buf);
    while let Some(entry) = entries.next() {
        let entry = entry?;
        let name = entry.file_name();
        if name != c"." && name != c".." {
            each(name, entry.file_type());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_name_but_the_dots_with_its_type() {
        let dir = std::env::temp_dir().join(format!("ostler-listing-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        // More names than one getdents buffer holds, so the listing takes several reads.
        for i in 0..300 {
            std::fs::write(dir.join(format!("file-with-a-long-name-{i:04}")), "").unwrap();
        }
        let mut names = Vec::new();
        let mut dirs = Vec::new();
        each(open(&dir).unwrap(), |name, kind| {
            let name = name.to_string_lossy().into_owned();
            if kind == FileType::Directory {
                dirs.push(name.clone());
            }
            names.push(name);
        })
        .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        names.sort();
        assert_eq!(names.len(), 301);
        assert_eq!(names[0], "file-with-a-long-name-0000");
        assert_eq!(names[299], "file-with-a-long-name-0299");
        assert_eq!(dirs, ["sub"]);
    }
}

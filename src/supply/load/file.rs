//! Reading one rule file: where its link may lead (see the module above), and its text as
//! of one moment.
//!
//! A file written in place may change while it is read, and a reading that overlapped a
//! write holds part of each version. So a reading is taken only when the file's size,
//! modification time and inode are the same after it as before; otherwise the file is read
//! again.
//!
//! A file may also be caught between two writes: a script or an editor that writes it in
//! parts leaves a shorter file in between, which can be a valid rule with fewer children.
//! So the watching server reads a plain file only once it has not been modified for a quiet
//! period. A ConfigMap volume's files (links through `..data/`) need none: the kubelet writes
//! them whole in a new directory before it swaps `..data` over to it.

use std::fs::Metadata;
use std::io::ErrorKind;
use std::path::{Component, Path};
use std::time::{Duration, SystemTime};

use crate::supply::ruleset::{FileRead, ReadResult};

/// Reads one rule file that lives in the directory `root` (canonical). `None` when there is
/// nothing to load: not a regular file, or a link whose target is gone. A plain file modified
/// less than `quiet_period` ago is not read yet ([`ReadResult::Settling`]); `ZERO` reads
/// every file as it is.
pub(super) fn read_file(
    path: &Path,
    root: &Path,
    quiet_period: Duration,
    max_bytes: usize,
) -> Option<FileRead> {
    let file = path.display().to_string();
    let content = match follow(path, root) {
        Link::Usable { swapped_whole } => {
            let quiet_period = if swapped_whole {
                Duration::ZERO
            } else {
                quiet_period
            };
            read_whole(path, quiet_period, max_bytes, |p: &Path| {
                read_at_most(p, max_bytes)
            })
        }
        Link::Gone => return None,
        Link::Swapping(why) => ReadResult::Transient(why),
        Link::Refused(why) => ReadResult::Refused(why),
        Link::NotAFile => return None,
    };
    Some(FileRead { file, content })
}

/// What a directory entry leads to.
enum Link {
    /// A regular file we may read; `swapped_whole` when it is a `..data/` link, whose file
    /// the kubelet wrote whole before swapping it in.
    Usable { swapped_whole: bool },
    /// A link to nothing: as if the file were deleted.
    Gone,
    /// A `..data/` link to nothing, mid-swap.
    Swapping(String),
    /// A link out of the directory; the message names the target, never its content.
    Refused(String),
    /// A directory, socket, FIFO or device: never read (a FIFO would block the reader).
    NotAFile,
}

fn follow(path: &Path, root: &Path) -> Link {
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    let through_data = is_link && std::fs::read_link(path).is_ok_and(|t| goes_through_data(&t));
    let target = match path.canonicalize() {
        Ok(target) => target,
        Err(e) if e.kind() == ErrorKind::NotFound && through_data => {
            return Link::Swapping(e.to_string())
        }
        Err(e) if e.kind() == ErrorKind::NotFound => return Link::Gone,
        // A loop or a component that is not a directory: a link that leads nowhere usable.
        Err(e) => return Link::Refused(format!("cannot follow the link: {e}")),
    };
    if is_link && !through_data && !target.starts_with(root) {
        return Link::Refused(format!(
            "links to {}, outside the rule directory; copy the file in, or link within the directory",
            target.display()
        ));
    }
    match std::fs::metadata(&target) {
        Ok(meta) if meta.is_file() => Link::Usable {
            swapped_whole: through_data,
        },
        Ok(_) => Link::NotAFile,
        Err(e) if e.kind() == ErrorKind::NotFound && through_data => Link::Swapping(e.to_string()),
        Err(e) if e.kind() == ErrorKind::NotFound => Link::Gone,
        Err(_) => Link::Usable {
            swapped_whole: through_data,
        },
    }
}

/// Whether a link's own target starts with `..data/`, as a ConfigMap volume's links do.
fn goes_through_data(target: &Path) -> bool {
    matches!(target.components().next(), Some(Component::Normal(first)) if first == "..data")
}

/// Readings in a row that a write may overlap before the file is reported as transient and
/// read again at the watcher's next look. A write overlaps one reading for as long as the
/// write takes; three in a row mean something keeps writing.
const READ_ATTEMPTS: usize = 3;

/// What tells one version of a file from the next without reading it: a write changes its
/// size or modification time, a rename over it its inode.
#[derive(Debug, PartialEq, Eq)]
struct Version {
    len: u64,
    modified: Option<SystemTime>,
    inode: (u64, u64),
}

impl Version {
    fn of(meta: &Metadata) -> Version {
        Version {
            len: meta.len(),
            modified: meta.modified().ok(),
            inode: inode(meta),
        }
    }
}

#[cfg(unix)]
fn inode(meta: &Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn inode(_: &Metadata) -> (u64, u64) {
    (0, 0)
}

/// The text of `path`, read with `read` (a parameter so that tests can write during it), from
/// a reading that no write overlapped, once the file has not been modified for
/// `quiet_period`.
///
/// # Guarantees
///
/// - The text returned is what the file held while its version stood still: never a mix of
///   two versions. A file that kept changing over [`READ_ATTEMPTS`] readings is
///   [`ReadResult::Transient`], which keeps its previous state.
/// - A file modified less than `quiet_period` ago is not read: it is
///   [`ReadResult::Settling`], with the time left. A write during the reading makes it so.
fn read_whole(
    path: &Path,
    quiet_period: Duration,
    max_bytes: usize,
    mut read: impl FnMut(&Path) -> std::io::Result<Vec<u8>>,
) -> ReadResult {
    for _ in 0..READ_ATTEMPTS {
        let before = match std::fs::metadata(path) {
            Ok(meta) => Version::of(&meta),
            Err(e) => return failed(&e),
        };
        if usize::try_from(before.len).map_or(true, |len| len > max_bytes) {
            return too_large(before.len, max_bytes);
        }
        let quiet_in = before
            .modified
            .and_then(|modified| quiet_in(modified, SystemTime::now(), quiet_period));
        if let Some(left) = quiet_in {
            return ReadResult::Settling(left);
        }
        let bytes = match read(path) {
            Ok(bytes) => bytes,
            Err(e) => return failed(&e),
        };
        match std::fs::metadata(path) {
            Ok(_) if bytes.len() > max_bytes => return too_large(bytes.len() as u64, max_bytes),
            Ok(after) if Version::of(&after) == before => return ReadResult::Text(text(bytes)),
            Ok(_) => {}
            Err(e) => return failed(&e),
        }
    }
    ReadResult::Transient(format!(
        "changed while being read, {READ_ATTEMPTS} times in a row"
    ))
}

/// Reads at most one byte more than `max_bytes`, so that a file that grew past the limit
/// after it was measured is still never read whole.
fn read_at_most(path: &Path, max_bytes: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(
            u64::try_from(max_bytes)
                .unwrap_or(u64::MAX)
                .saturating_add(1),
        )
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// A file too large to be a rule: an error, and its last good rule keeps serving.
fn too_large(len: u64, max_bytes: usize) -> ReadResult {
    ReadResult::Unreadable(format!(
        "the file is {len} bytes; a rule file may have at most {max_bytes} (memory limit / 1024), since compiling takes up to 60 times its size: split it into several rules"
    ))
}

/// How long until a file last modified at `modified` will have been quiet for
/// `quiet_period`; `None` when it already has.
///
/// A modification time ahead of `now` (a file system on another machine's clock) waits out
/// its lead too, when the lead is within the quiet period. One further ahead cannot be
/// judged by this clock, and waiting for it could last for ever: that file is read at once.
fn quiet_in(modified: SystemTime, now: SystemTime, quiet_period: Duration) -> Option<Duration> {
    let left = match now.duration_since(modified) {
        Ok(age) => quiet_period.saturating_sub(age),
        Err(ahead) if ahead.duration() <= quiet_period => {
            quiet_period.saturating_add(ahead.duration())
        }
        Err(_) => Duration::ZERO,
    };
    (!left.is_zero()).then_some(left)
}

fn text(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

fn failed(e: &std::io::Error) -> ReadResult {
    if e.kind() == ErrorKind::NotFound {
        ReadResult::Transient(format!("vanished while being read: {e}"))
    } else {
        ReadResult::Unreadable(format!("cannot be read: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// Appends `more` to the file at `path`: a write that lands during a reading.
    fn append(path: &Path, more: &str) {
        let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
        file.write_all(more.as_bytes()).unwrap();
    }

    #[test]
    fn a_file_written_during_its_reading_is_read_again_whole() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("a.yaml");
        std::fs::write(&path, "sync:\n").unwrap();
        let mut readings = 0;
        let result = read_whole(&path, Duration::ZERO, usize::MAX, |p: &Path| {
            let bytes = std::fs::read(p);
            readings += 1;
            if readings == 1 {
                append(p, "  status: {n: 1}\n");
            }
            bytes
        });
        assert_eq!(readings, 2);
        assert!(
            matches!(&result, ReadResult::Text(t) if t == "sync:\n  status: {n: 1}\n"),
            "{result:?}"
        );
    }

    #[test]
    fn a_file_that_keeps_changing_is_transient() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("a.yaml");
        std::fs::write(&path, "sync:\n").unwrap();
        let mut readings = 0;
        let result = read_whole(&path, Duration::ZERO, usize::MAX, |p: &Path| {
            readings += 1;
            let bytes = std::fs::read(p);
            append(p, "# more\n");
            bytes
        });
        assert_eq!(readings, READ_ATTEMPTS);
        assert!(matches!(result, ReadResult::Transient(_)), "{result:?}");
    }

    #[test]
    fn a_file_replaced_by_a_rename_during_its_reading_is_read_again() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("a.yaml");
        // Same size and modification time, so only the inode tells the versions apart.
        let next = temp.path().join(".a.yaml.tmp");
        let written = SystemTime::now() - std::time::Duration::from_secs(60);
        for (file, text) in [
            (&path, "sync: {status: {n: 1}}\n"),
            (&next, "sync: {status: {n: 2}}\n"),
        ] {
            std::fs::write(file, text).unwrap();
            std::fs::File::options()
                .write(true)
                .open(file)
                .unwrap()
                .set_modified(written)
                .unwrap();
        }
        let mut readings = 0;
        let result = read_whole(&path, Duration::ZERO, usize::MAX, |p: &Path| {
            let bytes = std::fs::read(p);
            readings += 1;
            if readings == 1 {
                std::fs::rename(&next, p).unwrap();
            }
            bytes
        });
        assert_eq!(readings, 2);
        assert!(
            matches!(&result, ReadResult::Text(t) if t.contains("n: 2")),
            "{result:?}"
        );
    }

    #[test]
    fn a_file_deleted_before_its_reading_is_transient() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("a.yaml");
        let result = read_whole(&path, Duration::ZERO, usize::MAX, |p: &Path| {
            std::fs::read(p)
        });
        assert!(matches!(result, ReadResult::Transient(_)), "{result:?}");
    }

    /// Sets the modification time of `path` to `ago` before now.
    fn modified_ago(path: &Path, ago: Duration) {
        let file = std::fs::File::options().write(true).open(path).unwrap();
        file.set_modified(SystemTime::now() - ago).unwrap();
    }

    #[test]
    fn a_file_is_quiet_once_unmodified_for_the_quiet_period() {
        let now = SystemTime::now();
        let period = Duration::from_secs(1);
        let ms = Duration::from_millis;
        assert_eq!(quiet_in(now - ms(300), now, period), Some(ms(700)));
        assert_eq!(quiet_in(now - ms(1000), now, period), None);
        assert_eq!(quiet_in(now - ms(300), now, Duration::ZERO), None);
        // A little ahead of the clock: its lead is waited out too.
        assert_eq!(quiet_in(now + ms(500), now, period), Some(ms(1500)));
        // Far ahead: cannot be judged, and is not waited for.
        assert_eq!(quiet_in(now + ms(60_000), now, period), None);
    }

    #[test]
    fn a_plain_file_modified_within_the_quiet_period_is_not_read_yet() {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path().canonicalize().unwrap();
        let path = root.join("a.yaml");
        std::fs::write(&path, "sync: {status: {n: 1}}\n").unwrap();
        let period = Duration::from_secs(1);
        let read = read_file(&path, &root, period, usize::MAX).unwrap();
        assert!(
            matches!(read.content, ReadResult::Settling(left) if left <= period && !left.is_zero()),
            "{:?}",
            read.content
        );
        assert!(matches!(
            read_file(&path, &root, Duration::ZERO, usize::MAX)
                .unwrap()
                .content,
            ReadResult::Text(_)
        ));
        modified_ago(&path, period);
        assert!(matches!(
            read_file(&path, &root, period, usize::MAX).unwrap().content,
            ReadResult::Text(_)
        ));
    }

    #[test]
    fn a_configmap_file_is_read_at_once() {
        use std::os::unix::fs::symlink;
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("..2026_11_22_10_00_00.1")).unwrap();
        std::fs::write(
            root.join("..2026_11_22_10_00_00.1/a.yaml"),
            "sync: {status: {n: 1}}\n",
        )
        .unwrap();
        symlink("..2026_11_22_10_00_00.1", root.join("..data")).unwrap();
        symlink("..data/a.yaml", root.join("a.yaml")).unwrap();
        let read = read_file(
            &root.join("a.yaml"),
            &root,
            Duration::from_secs(1),
            usize::MAX,
        )
        .unwrap();
        assert!(
            matches!(read.content, ReadResult::Text(_)),
            "{:?}",
            read.content
        );
    }

    #[test]
    fn a_plain_file_written_during_its_reading_waits_for_its_quiet_period() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("a.yaml");
        std::fs::write(&path, "sync:\n").unwrap();
        let period = Duration::from_secs(1);
        modified_ago(&path, period);
        let result = read_whole(&path, period, usize::MAX, |p: &Path| {
            let bytes = std::fs::read(p);
            append(p, "  status: {n: 1}\n");
            bytes
        });
        assert!(matches!(result, ReadResult::Settling(_)), "{result:?}");
    }

    #[test]
    fn a_file_over_the_size_limit_is_not_read() {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path().canonicalize().unwrap();
        let path = root.join("a.yaml");
        std::fs::write(&path, "x".repeat(2000)).unwrap();
        let read = read_file(&path, &root, Duration::ZERO, 1000).unwrap();
        match read.content {
            ReadResult::Unreadable(why) => {
                assert!(
                    why.contains("2000 bytes") && why.contains("at most 1000"),
                    "{why}"
                )
            }
            other => panic!("read anyway: {other:?}"),
        }
        // A file that grows past the limit between the measuring and the reading.
        let grown = read_whole(&path, Duration::ZERO, 2500, |p: &Path| {
            std::fs::write(p, "x".repeat(3000))?;
            read_at_most(p, 2500)
        });
        assert!(matches!(grown, ReadResult::Unreadable(_)), "{grown:?}");
    }
}

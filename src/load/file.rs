//! Reading one rule file: where its link may lead (see the module above), and its text.

use std::io::ErrorKind;
use std::path::{Component, Path};

use crate::ruleset::{FileRead, ReadResult};

/// Reads one rule file that lives in the directory `root` (canonical). `None` when there is
/// nothing to load: not a regular file, or a link whose target is gone.
pub(super) fn read_file(path: &Path, root: &Path) -> Option<FileRead> {
    let file = path.display().to_string();
    let content = match follow(path, root) {
        Link::Usable => read_text(path),
        Link::Gone => return None,
        Link::Swapping(why) => ReadResult::Transient(why),
        Link::Refused(why) => ReadResult::Refused(why),
        Link::NotAFile => return None,
    };
    Some(FileRead { file, content })
}

/// What a directory entry leads to.
enum Link {
    /// A regular file we may read.
    Usable,
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
        Ok(meta) if meta.is_file() => Link::Usable,
        Ok(_) => Link::NotAFile,
        Err(e) if e.kind() == ErrorKind::NotFound && through_data => Link::Swapping(e.to_string()),
        Err(e) if e.kind() == ErrorKind::NotFound => Link::Gone,
        Err(_) => Link::Usable,
    }
}

/// Whether a link's own target starts with `..data/`, as a ConfigMap volume's links do.
fn goes_through_data(target: &Path) -> bool {
    matches!(target.components().next(), Some(Component::Normal(first)) if first == "..data")
}

fn read_text(path: &Path) -> ReadResult {
    match std::fs::read(path) {
        Ok(bytes) => ReadResult::Text(match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            ReadResult::Transient(format!("vanished while being read: {e}"))
        }
        Err(e) => ReadResult::Unreadable(format!("cannot be read: {e}")),
    }
}

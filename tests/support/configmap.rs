//! A rule directory laid out exactly as the kubelet lays out a ConfigMap volume, updated the
//! way its atomic writer updates it:
//!
//! ```text
//! hello.yaml -> ..data/hello.yaml
//! ..data     -> ..2026_11_22_10_00_00.000000001
//! ..2026_11_22_10_00_00.000000001/hello.yaml
//! ```
//!
//! An update writes a new timestamped directory, points `..data_tmp` at it, renames
//! `..data_tmp` over `..data`, adds or removes the top-level links, and removes the old
//! directory.

use std::collections::BTreeMap;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub struct ConfigMapDir {
    _temp: tempfile::TempDir,
    pub path: PathBuf,
    current: Option<String>,
}

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

impl ConfigMapDir {
    pub fn new(files: &[(&str, &str)]) -> ConfigMapDir {
        let temp = tempfile::tempdir().expect("tempdir");
        let path = temp.path().to_path_buf();
        let mut dir = ConfigMapDir {
            _temp: temp,
            path,
            current: None,
        };
        dir.update(files);
        dir
    }

    /// Replaces the whole content with `files`, in the kubelet's order of steps.
    pub fn update(&mut self, files: &[(&str, &str)]) {
        let files: BTreeMap<&str, &str> = files.iter().copied().collect();
        let n = SEQUENCE.fetch_add(1, Ordering::SeqCst);
        let stamp = format!("..2026_11_22_10_00_00.{n:09}");
        // 1. the new timestamped directory
        let new_dir = self.path.join(&stamp);
        std::fs::create_dir(&new_dir).expect("mkdir");
        for (name, text) in &files {
            std::fs::write(new_dir.join(name), text).expect("write");
        }
        // 2. ..data_tmp -> new directory
        let tmp = self.path.join("..data_tmp");
        symlink(&stamp, &tmp).expect("symlink ..data_tmp");
        // 3. rename over ..data
        std::fs::rename(&tmp, self.path.join("..data")).expect("rename ..data");
        // 4. top-level links for new keys; remove links of keys that are gone
        for name in files.keys() {
            let link = self.path.join(name);
            if std::fs::symlink_metadata(&link).is_err() {
                symlink(Path::new("..data").join(name), &link).expect("symlink key");
            }
        }
        for entry in std::fs::read_dir(&self.path).expect("readdir") {
            let entry = entry.expect("entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with("..") && !files.contains_key(name.as_str()) {
                std::fs::remove_file(entry.path()).expect("remove key");
            }
        }
        // 5. the old directory goes
        if let Some(old) = self.current.replace(stamp) {
            std::fs::remove_dir_all(self.path.join(old)).expect("remove old");
        }
    }
}

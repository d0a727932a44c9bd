//! `serve --record DIR`: the requests the server answered with 200, kept as files for
//! `rulehook diff` to replay against a rule change.
//!
//! One file per distinct request, `DIR/<rule>/<hook>/<sha256>.json`, named by the SHA-256 of
//! the request as stored, so a request sent again is the same file. For a rule that reads
//! the time, the file also holds the time it saw, under [`NOW_KEY`] (not part of the name). Before anything is stored, the
//! values of `data` and `stringData` of every object of `kind: Secret`, wherever it sits in
//! the request, become [`REDACTED`]; everything else is stored as it was sent. Each rule keeps
//! at most `max_files` files and `max_bytes` bytes; the oldest go first.
//!
//! Recording never slows or fails an answer: the handler hands the body (already in memory)
//! to a bounded queue and moves on. One writer thread parses, redacts and writes. When the
//! queue is full (by count or by bytes), the request is not recorded and
//! `rulehook_records_dropped_total` counts it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use actix_web::web::Bytes;
use crossbeam_channel::{bounded, Receiver, Sender};
use prometheus_client::metrics::counter::Counter;
use serde_json::Value;

use rulehook_engine::{Hook, Now};

/// The top-level key a recorded request keeps the time its rule saw as `now` under, so that
/// `rulehook diff` renders it at that time. Metacontroller sends no such key, and a rule
/// never sees it: the engine reads only the request keys it knows.
pub const NOW_KEY: &str = "rulehook.now";

/// What replaces each value of a Secret's `data` and `stringData`.
pub const REDACTED: &str = "<redacted>";

/// Requests waiting for the writer, at most; beyond them (or their bytes), new ones are
/// dropped.
const QUEUE_ENTRIES: usize = 1024;

/// Where and how much `--record` keeps.
#[derive(Debug, Clone)]
pub struct RecordConfig {
    pub dir: PathBuf,
    /// Files kept per rule.
    pub max_files: usize,
    /// Bytes kept per rule.
    pub max_bytes: usize,
}

impl RecordConfig {
    pub const DEFAULT_MAX_FILES: usize = 1000;
    pub const DEFAULT_MAX_BYTES: usize = 64 * 1024 * 1024;
}

/// The request path's side of recording: a queue that never blocks.
pub struct Recorder {
    queue: Sender<Entry>,
    queued_bytes: Arc<AtomicUsize>,
    max_queued_bytes: usize,
    dropped: Counter,
}

struct Entry {
    rule: String,
    hook: Hook,
    body: Bytes,
    /// The time the rule saw, when it reads one.
    now: Option<Now>,
}

impl Recorder {
    /// Starts recording the requests answered with 200 into `config.dir`, with a queue of at
    /// most `max_queued_bytes` (twice the largest body: all that recording may hold on top
    /// of the requests' own memory budget, besides the one request the writer is parsing).
    /// Dropped requests are counted in `dropped`.
    ///
    /// # Errors
    ///
    /// When the directory cannot be created or the writer thread cannot start.
    pub fn start(
        config: RecordConfig,
        max_queued_bytes: usize,
        dropped: Counter,
    ) -> std::io::Result<Recorder> {
        std::fs::create_dir_all(&config.dir)?;
        let (tx, rx) = bounded(QUEUE_ENTRIES);
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let store = Store {
            config,
            rules: HashMap::new(),
        };
        let writer_bytes = queued_bytes.clone();
        std::thread::Builder::new()
            .name("record".to_owned())
            .spawn(move || write_all(&rx, store, &writer_bytes))?;
        Ok(Recorder {
            queue: tx,
            queued_bytes,
            max_queued_bytes,
            dropped,
        })
    }
}

impl Recorder {
    /// Queues a request the server answered with 200; drops and counts it when the writer is
    /// behind. Never blocks.
    pub(crate) fn offer(&self, rule: &str, hook: Hook, body: Bytes, now: Option<Now>) {
        let len = body.len();
        let before = self.queued_bytes.fetch_add(len, Ordering::AcqRel);
        if before.saturating_add(len) > self.max_queued_bytes {
            self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            self.dropped.inc();
            return;
        }
        let entry = Entry {
            rule: rule.to_owned(),
            hook,
            body,
            now,
        };
        if self.queue.try_send(entry).is_err() {
            self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            self.dropped.inc();
        }
    }
}

fn write_all(queue: &Receiver<Entry>, mut store: Store, queued_bytes: &AtomicUsize) {
    for entry in queue {
        let len = entry.body.len();
        if let Err(e) = store.write(&entry) {
            tracing::warn!(rule = %entry.rule, error = %e, "cannot record a request");
        }
        drop(entry);
        queued_bytes.fetch_sub(len, Ordering::AcqRel);
    }
}

/// Replaces the value of every key of `data` and `stringData` of every `kind: Secret` object
/// anywhere in `value` with [`REDACTED`]; the keys stay. A `data` that is not a map is
/// replaced whole.
pub fn redact_secrets(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.get("kind").and_then(Value::as_str) == Some("Secret") {
                for key in ["data", "stringData"] {
                    match map.get_mut(key) {
                        Some(Value::Object(fields)) => {
                            for field in fields.values_mut() {
                                *field = Value::from(REDACTED);
                            }
                        }
                        Some(Value::Null) | None => {}
                        Some(other) => *other = Value::from(REDACTED),
                    }
                }
            }
            map.values_mut().for_each(redact_secrets);
        }
        Value::Array(items) => items.iter_mut().for_each(redact_secrets),
        _ => {}
    }
}

/// The files on disk, per rule, oldest first.
struct Store {
    config: RecordConfig,
    rules: HashMap<String, RuleFiles>,
}

#[derive(Default)]
struct RuleFiles {
    files: VecDeque<(PathBuf, usize)>,
    known: HashSet<PathBuf>,
    bytes: usize,
}

impl Store {
    fn write(&mut self, entry: &Entry) -> std::io::Result<()> {
        // Valid JSON: the rule parsed it to answer 200.
        let Ok(mut request) = serde_json::from_slice::<Value>(&entry.body) else {
            return Ok(());
        };
        redact_secrets(&mut request);
        // Named by the request alone: the same request at another time is the same file.
        let name = crate::telemetry::digest::sha256_hex(&serde_json::to_vec(&request)?, 32);
        if let (Some(now), Value::Object(top)) = (&entry.now, &mut request) {
            top.insert(NOW_KEY.to_owned(), Value::from(now.as_str()));
        }
        let content = serde_json::to_vec(&request)?;
        drop(request);
        if content.len() > self.config.max_bytes {
            return Ok(());
        }
        let hook_dir = self.config.dir.join(&entry.rule).join(entry.hook.as_str());
        let path = hook_dir.join(format!("{name}.json"));
        let rule_dir = self.config.dir.join(&entry.rule);
        let files = self
            .rules
            .entry(entry.rule.clone())
            .or_insert_with(|| RuleFiles::scan(&rule_dir));
        if files.known.contains(&path) {
            return Ok(());
        }
        std::fs::create_dir_all(&hook_dir)?;
        // Written aside and renamed: a reader never sees half a file.
        let partial = hook_dir.join(format!(".{name}.json.partial"));
        std::fs::write(&partial, &content)?;
        std::fs::rename(&partial, &path)?;
        files.add(path, content.len());
        files.evict(self.config.max_files, self.config.max_bytes);
        Ok(())
    }
}

impl RuleFiles {
    /// What an earlier run left in `DIR/<rule>/*/`, oldest first.
    fn scan(rule_dir: &Path) -> RuleFiles {
        let mut found: Vec<(SystemTime, PathBuf, usize)> = Vec::new();
        let hooks = std::fs::read_dir(rule_dir).into_iter().flatten().flatten();
        for hook in hooks {
            for file in std::fs::read_dir(hook.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let path = file.path();
                let name = file.file_name();
                let name = name.to_string_lossy();
                if name.starts_with('.') || !name.ends_with(".json") {
                    continue;
                }
                let Ok(meta) = file.metadata() else { continue };
                let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                let len = usize::try_from(meta.len()).unwrap_or(usize::MAX);
                found.push((modified, path, len));
            }
        }
        found.sort();
        let mut files = RuleFiles::default();
        for (_, path, len) in found {
            files.add(path, len);
        }
        files
    }

    fn add(&mut self, path: PathBuf, len: usize) {
        self.known.insert(path.clone());
        self.files.push_back((path, len));
        self.bytes = self.bytes.saturating_add(len);
    }

    /// Removes the oldest files until both caps hold.
    fn evict(&mut self, max_files: usize, max_bytes: usize) {
        while self.files.len() > max_files || self.bytes > max_bytes {
            let Some((path, len)) = self.files.pop_front() else {
                break;
            };
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(file = %path.display(), error = %e, "cannot remove an old record");
            }
            self.known.remove(&path);
            self.bytes -= len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_values_are_redacted_wherever_they_sit_and_their_keys_stay() {
        let mut request = json!({
            "parent": {"kind": "Thing", "data": {"keep": "me"}},
            "related": {"Secret.v1": {"ns/s": {
                "kind": "Secret",
                "data": {"password": "aHVudGVyMg=="},
                "stringData": {"token": "t0k3n"},
            }}},
            "children": {"List": [{"kind": "Secret", "data": "odd"}]},
        });
        redact_secrets(&mut request);
        let secret = &request["related"]["Secret.v1"]["ns/s"];
        assert_eq!(secret["data"], json!({"password": REDACTED}));
        assert_eq!(secret["stringData"], json!({"token": REDACTED}));
        assert_eq!(request["children"]["List"][0]["data"], json!(REDACTED));
        assert_eq!(request["parent"]["data"], json!({"keep": "me"}));
    }

    /// A store in `dir` keeping `max_files` files and 1000 bytes per rule.
    fn store_in(dir: &Path, max_files: usize) -> Store {
        Store {
            config: RecordConfig {
                dir: dir.to_path_buf(),
                max_files,
                max_bytes: 1000,
            },
            rules: HashMap::new(),
        }
    }

    #[test]
    fn a_rule_keeps_its_newest_files_within_both_caps() {
        let temp = tempfile::tempdir().unwrap();
        let mut store = store_in(temp.path(), 2);
        for i in 0..4 {
            let body = Bytes::from(format!(r#"{{"parent":{{"n":{i}}}}}"#));
            let entry = Entry {
                rule: "hello".to_owned(),
                hook: Hook::Sync,
                body,
                now: None,
            };
            store.write(&entry).unwrap();
            store.write(&entry).unwrap();
        }
        let dir = temp.path().join("hello/sync");
        let mut kept: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
        kept.sort();
        assert_eq!(kept, [r#"{"parent":{"n":2}}"#, r#"{"parent":{"n":3}}"#]);
        store.config.max_bytes = 20;
        let entry = Entry {
            rule: "hello".to_owned(),
            hook: Hook::Sync,
            body: Bytes::from(r#"{"parent":{"n":5}}"#),
            now: None,
        };
        store.write(&entry).unwrap();
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    }

    #[test]
    fn the_time_a_rule_saw_is_kept_beside_its_request_and_does_not_name_the_file() {
        let temp = tempfile::tempdir().unwrap();
        let mut store = store_in(temp.path(), 10);
        for time in ["2026-01-01T00:00:00Z", "2026-01-01T00:00:09Z"] {
            let entry = Entry {
                rule: "clock".to_owned(),
                hook: Hook::Sync,
                body: Bytes::from(r#"{"parent":{"n":1}}"#),
                now: Now::parse(time).ok(),
            };
            store.write(&entry).unwrap();
        }
        let files: Vec<_> = std::fs::read_dir(temp.path().join("clock/sync"))
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
        assert_eq!(
            files,
            [r#"{"parent":{"n":1},"rulehook.now":"2026-01-01T00:00:00Z"}"#],
            "one file for one request, with the first time it was seen"
        );
    }
}

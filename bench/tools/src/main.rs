//! `benchtool`: what `bench/load.sh` needs and no maintained tool does. Where one does, the
//! script uses it: wrk for the maximum throughput, oha (the version pinned in `load.sh`) for
//! one request at a time. What is left here is specific to rulehook or to this machine, each
//! with the reason no tool does it:
//!
//! Generators, the same code as the criterion benchmarks (`bench/common`), so that both
//! measure the same inputs:
//!
//! - `pods N FILE`: a sync request observing N realistic Pods.
//! - `fanout N FILE`: a sync request whose parent asks for N Services.
//! - `rules DIR N`: N realistic rule files, plus `pods.yaml` and `fanout.yaml`.
//! - `configmap --src DIR --dir DIR`: lay rule files out as a ConfigMap volume does
//!   (`..<timestamp>/` holding the files, `..data` linking to it, `name` linking through it).
//!
//! Measurements:
//!
//! - `rate --addr A --path P --body FILE --rate R [--duration S] [--warmup S]
//!   [--connections C]`: a fixed request rate with latency percentiles, corrected for
//!   coordinated omission without charging the tool's own scheduling to the server. Request
//!   k on a connection is due at a fixed time; its latency is its virtual completion minus
//!   that time, where the virtual completion is `max(due, previous virtual completion)` plus
//!   the response time actually measured (send to last byte). So a slow response delays, in
//!   full, every later request queued behind it on the connection, as with wrk2, but a late
//!   wake-up of this tool (on a 2-CPU VM, sleeps overshoot by 0.1 ms typically and by
//!   milliseconds at times) is not counted. `svc_*` are the raw response times,
//!   `late_sends` the requests this tool sent over 1 ms late. Debian has no wrk2, and oha's
//!   `-q` schedule runs on tokio's 1 ms timer: at half of rulehook's maximum it sends a
//!   millisecond's worth of requests (13 and more) at once, which on the same build raised
//!   rulehook's p50 from 0.14 ms to 0.83-0.89 ms against a 1 ms target (`load.sh`, at the
//!   fixed-rate phase, has the figures; `RATE_TOOL=oha` runs that phase with oha).
//! - `parse --body FILE [--n N]`: `serde_json::from_slice::<Value>` alone, median time: the
//!   baseline of the 1,000-Pod figure, which has to run with rulehook's allocator and
//!   release profile, so in a program built like rulehook.
//! - `validate --body FILE [--batches B] [--batch-ms MS]`: the floor of any server that
//!   checks its request is JSON: `serde_json` deserializing FILE into
//!   `serde::de::IgnoredAny` (every byte read and validated, nothing built), timed in B
//!   batches (default 9) of as many runs as fill about MS ms (default 50); prints the
//!   median, minimum and maximum of the batches' µs per body (`bench/cpu.sh`), then the
//!   median for rulehook's own check (`rulehook_engine::is_json`, `scan_us`). No tool
//!   times a library call, and like `parse` it has to run with rulehook's allocator and
//!   release profile.
//! - `libraries --body FILE [--batches B] [--batch-ms MS]`: the JSON libraries the engine
//!   could read requests with (serde_json, sonic-rs, simd-json), each timed as `validate` is
//!   on three jobs: checking every byte and building nothing, building only what the hello
//!   rule reads, and building the whole document as the library's own value. What chose
//!   the engine's (BENCHMARKS.md, "Choosing the JSON library"); a library call again.
//! - `startup --addr A [--runs N] [--log FILE] -- CMD...`: time from spawning CMD until
//!   `GET /readyz` answers 200, polling every 200 µs; the server is killed after each run.
//!   Command timers (hyperfine) time a command until it exits, and a server does not.
//! - `reload --dir DIR --file F --addr A --path P --body FILE [--swaps N] [--gap-ms MS]`:
//!   ConfigMap-style swaps of DIR (new timestamped directory, `..data_tmp` link renamed over
//!   `..data`), each changing `image: busybox` in F; time from the rename until the server
//!   answers with the new image (HTTP/1.1 keep-alive on loopback, TCP_NODELAY). The swap is
//!   what the kubelet does to a mounted ConfigMap; no tool imitates it.
//! - `hiccups [--threads N] [--seconds S]`: N threads spin reading the clock; reports the
//!   share of time they did not run and the longest gap. On a VM this shows how much CPU
//!   the "cores" really deliver, and how long the stalls are that every latency figure
//!   inherits. No packaged tool on this machine measures that.
//!
//! Results are printed as `key=value` lines, for the shell to read.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use serde::de::IgnoredAny;
use serde_json::Value;

#[path = "../../common/mod.rs"]
mod common;
mod fixed_rate;

type Result<T> = std::result::Result<T, String>;

/// rulehook's allocator (src/main.rs): `parse` is the baseline for rulehook's own parse.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str =
    "usage: benchtool pods|fanout|rules|configmap|parse|validate|libraries|rate|startup|reload|hiccups ... \
(see the comment at the top of bench/tools/src/main.rs)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = match args.split_first() {
        Some((c, rest)) => (c.as_str(), rest),
        None => ("", &[][..]),
    };
    let result = match command {
        "pods" => generate(rest, common::pods_request_body),
        "fanout" => generate(rest, |n| {
            serde_json::to_vec(&common::fanout_request(n)).expect("serializes")
        }),
        "rules" => rules(rest),
        "configmap" => configmap(&Opts::parse(rest)),
        "parse" => parse(&Opts::parse(rest)),
        "validate" => validate(&Opts::parse(rest)),
        "libraries" => libraries(&Opts::parse(rest)),
        "rate" => rate(&Opts::parse(rest)),
        "startup" => startup(rest),
        "reload" => reload(&Opts::parse(rest)),
        "hiccups" => hiccups(&Opts::parse(rest)),
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("benchtool {command}: {e}");
            ExitCode::from(1)
        }
    }
}

/// `--key value` options.
struct Opts(HashMap<String, String>);

impl Opts {
    fn parse(args: &[String]) -> Opts {
        let mut map = HashMap::new();
        let mut it = args.iter();
        while let Some(k) = it.next() {
            if let Some(key) = k.strip_prefix("--") {
                map.insert(key.to_owned(), it.next().cloned().unwrap_or_default());
            }
        }
        Opts(map)
    }

    fn str(&self, key: &str) -> Result<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| format!("--{key} is required"))
    }

    fn num<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T> {
        match self.0.get(key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("--{key}: bad number `{v}`")),
        }
    }

    fn addr(&self) -> Result<SocketAddr> {
        let a = self.str("addr")?;
        let addr: SocketAddr = a.parse().map_err(|e| format!("--addr {a}: {e}"))?;
        if !addr.ip().is_loopback() {
            return Err(format!("--addr {a}: only loopback addresses are allowed"));
        }
        Ok(addr)
    }

    fn body(&self) -> Result<Vec<u8>> {
        let file = self.str("body")?;
        std::fs::read(file).map_err(|e| format!("{file}: {e}"))
    }
}

fn generate(args: &[String], make: impl Fn(usize) -> Vec<u8>) -> Result<()> {
    let [n, file] = args else {
        return Err("needs N FILE".to_owned());
    };
    let n: usize = n.parse().map_err(|_| format!("bad count `{n}`"))?;
    let body = make(n);
    std::fs::write(file, &body).map_err(|e| format!("{file}: {e}"))?;
    println!("bytes={}", body.len());
    Ok(())
}

fn rules(args: &[String]) -> Result<()> {
    let [dir, n] = args else {
        return Err("needs DIR N".to_owned());
    };
    let n: usize = n.parse().map_err(|_| format!("bad count `{n}`"))?;
    let dir = Path::new(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut files = common::webapp_rules(n);
    files.push(("pods.yaml".to_owned(), common::PODS_RULE.to_owned()));
    files.push(("fanout.yaml".to_owned(), common::FANOUT_RULE.to_owned()));
    for (name, text) in &files {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    println!("files={}", files.len());
    Ok(())
}

fn io(what: &Path) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{}: {e}", what.display())
}

fn configmap(o: &Opts) -> Result<()> {
    let src = PathBuf::from(o.str("src")?);
    let dir = PathBuf::from(o.str("dir")?);
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let stamp = "..2026_08_20_10_00_00.000000000";
    let data = dir.join(stamp);
    std::fs::create_dir(&data).map_err(io(&data))?;
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&src).map_err(io(&src))? {
        let entry = entry.map_err(io(&src))?;
        if entry.file_type().map_err(io(&src))?.is_file() {
            let name = entry.file_name().to_string_lossy().into_owned();
            std::fs::copy(entry.path(), data.join(&name)).map_err(io(&entry.path()))?;
            names.push(name);
        }
    }
    symlink(stamp, &dir.join("..data"))?;
    for name in &names {
        symlink(&format!("..data/{name}"), &dir.join(name))?;
    }
    println!("files={}", names.len());
    Ok(())
}

fn symlink(target: &str, link: &Path) -> Result<()> {
    std::os::unix::fs::symlink(target, link).map_err(io(link))
}

fn parse(o: &Opts) -> Result<()> {
    let body = o.body()?;
    let n: usize = o.num("n", 30)?;
    for _ in 0..3 {
        drop(serde_json::from_slice::<Value>(&body).map_err(|e| e.to_string())?);
    }
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let v: Value =
            serde_json::from_slice(std::hint::black_box(&body)).map_err(|e| e.to_string())?;
        times.push(t.elapsed());
        drop(v);
    }
    let s = Stats::new(times);
    println!("bytes={}", body.len());
    s.print("parse");
    Ok(())
}

/// Validates the body as JSON without building anything: the least a server that reads JSON
/// spends on it.
fn validate(o: &Opts) -> Result<()> {
    let body = o.body()?;
    let timing = Timing::from(o)?;
    let once = |body: &[u8]| {
        serde_json::from_slice::<serde::de::IgnoredAny>(body)
            .map(drop)
            .map_err(|e| e.to_string())
    };
    let per_body_us = timing.per_body_us(&body, once)?;
    // The same check as rulehook's engine makes it: its scanner, which builds nothing.
    let scan = |body: &[u8]| {
        rulehook_engine::is_json(body)
            .then_some(())
            .ok_or_else(|| "not JSON".to_owned())
    };
    let scan_us = timing.per_body_us(&body, scan)?;
    println!("bytes={}", body.len());
    println!("validate_batches={}", timing.batches);
    println!("validate_runs_per_batch={}", per_body_us.runs);
    println!("validate_us={:.3}", per_body_us.median());
    println!("validate_min_us={:.3}", per_body_us.min());
    println!("validate_max_us={:.3}", per_body_us.max());
    println!("scan_us={:.3}", scan_us.median());
    Ok(())
}

/// The JSON libraries a hook server could read requests with, each doing the three jobs a
/// request can need: checking every byte and building nothing, building only what the
/// hello rule reads (the parent's name and `spec.who`, borrowed, and the number of Pods),
/// and building the whole document as its own value type. Prints `<library>_<job>_us`.
fn libraries(o: &Opts) -> Result<()> {
    let body = o.body()?;
    let timing = Timing::from(o)?;
    println!("bytes={}", body.len());
    // simd-json parses in place, so each of its runs starts from a copy of the body, as a
    // server reading into its own buffer would.
    let jobs: [(&str, Job); 9] = [
        ("serde_json_validate", |b| {
            serde_json::from_slice::<IgnoredAny>(b)
                .map(drop)
                .map_err(text)
        }),
        ("serde_json_hello", |b| {
            serde_json::from_slice::<HelloReads>(b)
                .map_err(text)?
                .check()
        }),
        ("serde_json_whole", |b| {
            serde_json::from_slice::<Value>(b).map(drop).map_err(text)
        }),
        ("sonic_rs_validate", |b| {
            sonic_rs::from_slice::<IgnoredAny>(b)
                .map(drop)
                .map_err(text)
        }),
        ("sonic_rs_hello", |b| {
            sonic_rs::from_slice::<HelloReads>(b).map_err(text)?.check()
        }),
        ("sonic_rs_whole", |b| {
            sonic_rs::from_slice::<sonic_rs::Value>(b)
                .map(drop)
                .map_err(text)
        }),
        ("simd_json_validate", |b| {
            simd_json::to_tape(&mut b.to_vec()).map(drop).map_err(text)
        }),
        ("simd_json_hello", |b| {
            simd_json::serde::from_slice::<HelloReadsOwned>(&mut b.to_vec())
                .map(drop)
                .map_err(text)
        }),
        ("simd_json_whole", |b| {
            simd_json::to_owned_value(&mut b.to_vec())
                .map(drop)
                .map_err(text)
        }),
    ];
    for (name, job) in jobs {
        let us = timing.per_body_us(&body, job)?;
        println!("{name}_us={:.3}", us.median());
    }
    Ok(())
}

/// One library doing one job on a body.
type Job = fn(&[u8]) -> Result<()>;

fn text(error: impl std::fmt::Display) -> String {
    error.to_string()
}

/// What the hello rule reads of a request, borrowed from the body where it can be.
#[derive(serde::Deserialize)]
struct HelloReads<'a> {
    #[serde(borrow)]
    parent: HelloParent<'a>,
    #[serde(default)]
    children: HelloChildren,
}

#[derive(serde::Deserialize)]
struct HelloParent<'a> {
    #[serde(borrow)]
    metadata: HelloMetadata<'a>,
    #[serde(borrow, default)]
    spec: HelloSpec<'a>,
}

#[derive(serde::Deserialize)]
struct HelloMetadata<'a> {
    #[serde(borrow)]
    name: std::borrow::Cow<'a, str>,
}

#[derive(serde::Deserialize, Default)]
struct HelloSpec<'a> {
    #[serde(borrow, default)]
    who: Option<std::borrow::Cow<'a, str>>,
}

#[derive(serde::Deserialize, Default)]
struct HelloChildren {
    #[serde(rename = "Pod.v1", default)]
    pods: Counted,
}

impl HelloReads<'_> {
    fn check(self) -> Result<()> {
        let who = self.parent.spec.who.as_deref().unwrap_or("World");
        // Used, so that the reads are not optimized away.
        if self.parent.metadata.name.is_empty() || who.len() > self.children.pods.0 + (1 << 20) {
            return Err("a parent with no name".to_owned());
        }
        Ok(())
    }
}

/// The same reads, owned: simd-json's serde reader unescapes strings in place but cannot
/// lend them past the parse.
#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct HelloReadsOwned {
    parent: HelloParentOwned,
    #[serde(default)]
    children: HelloChildren,
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct HelloParentOwned {
    metadata: HelloMetadataOwned,
    #[serde(default)]
    spec: Option<HelloSpecOwned>,
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct HelloMetadataOwned {
    name: String,
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct HelloSpecOwned {
    #[serde(default)]
    who: Option<String>,
}

/// The number of entries of a map, each value checked and skipped.
#[derive(Default)]
struct Counted(usize);

impl<'de> serde::Deserialize<'de> for Counted {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = Counted;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Counted, A::Error> {
                let mut n = 0;
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(Counted(n))
            }
        }
        d.deserialize_map(Entries)
    }
}

/// How a library call is timed: in `batches` batches (default 9) of as many runs as fill
/// about `batch-ms` ms (default 50).
struct Timing {
    batches: usize,
    batch_ms: f64,
}

impl Timing {
    fn from(o: &Opts) -> Result<Timing> {
        let batches: usize = o.num("batches", 9)?;
        if batches == 0 {
            return Err("--batches must be at least 1".to_owned());
        }
        Ok(Timing {
            batches,
            batch_ms: o.num("batch-ms", 50.0)?,
        })
    }

    /// µs per body of `once`, per batch, sorted.
    fn per_body_us(&self, body: &[u8], once: impl Fn(&[u8]) -> Result<()>) -> Result<PerBody> {
        let once = |b: &[u8]| once(std::hint::black_box(b));
        // Warm up, and size a batch from how long one run takes.
        let t = Instant::now();
        let mut warm = 0u32;
        while warm < 3 || t.elapsed() < Duration::from_millis(20) {
            once(body)?;
            warm += 1;
        }
        let per_run = t.elapsed().as_secs_f64() / f64::from(warm);
        let runs = ((self.batch_ms / 1e3 / per_run).ceil() as u32).max(1);
        let mut us = Vec::with_capacity(self.batches);
        for _ in 0..self.batches {
            let t = Instant::now();
            for _ in 0..runs {
                once(body)?;
            }
            us.push(t.elapsed().as_secs_f64() * 1e6 / f64::from(runs));
        }
        us.sort_by(f64::total_cmp);
        Ok(PerBody { us, runs })
    }
}

/// Sorted µs per body, one per batch.
struct PerBody {
    us: Vec<f64>,
    runs: u32,
}

impl PerBody {
    fn median(&self) -> f64 {
        self.us[self.us.len() / 2]
    }
    fn min(&self) -> f64 {
        self.us[0]
    }
    fn max(&self) -> f64 {
        self.us[self.us.len() - 1]
    }
}

/// Latency statistics over a set of samples.
struct Stats(Vec<Duration>);

impl Stats {
    fn new(mut samples: Vec<Duration>) -> Stats {
        samples.sort();
        Stats(samples)
    }

    fn pct(&self, p: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        self.0[rank.clamp(1, self.0.len()) - 1]
    }

    fn mean(&self) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        self.0.iter().sum::<Duration>() / self.0.len() as u32
    }

    fn print(&self, prefix: &str) {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!("{prefix}_n={}", self.0.len());
        println!("{prefix}_min_ms={:.4}", ms(self.pct(0.0)));
        println!("{prefix}_p50_ms={:.4}", ms(self.pct(50.0)));
        println!("{prefix}_mean_ms={:.4}", ms(self.mean()));
        println!("{prefix}_p90_ms={:.4}", ms(self.pct(90.0)));
        println!("{prefix}_p99_ms={:.4}", ms(self.pct(99.0)));
        println!("{prefix}_p999_ms={:.4}", ms(self.pct(99.9)));
        println!("{prefix}_max_ms={:.4}", ms(self.pct(100.0)));
    }
}

fn post_request(path: &str, body: &[u8]) -> Vec<u8> {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    req
}

/// One keep-alive HTTP/1.1 client connection; reconnects when the server closes it.
struct Conn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

struct Response {
    status: u16,
    body: std::ops::Range<usize>,
}

impl Conn {
    fn new(addr: SocketAddr) -> Conn {
        Conn {
            addr,
            stream: None,
            buf: Vec::with_capacity(64 * 1024),
        }
    }

    fn stream(&mut self) -> std::io::Result<&mut TcpStream> {
        if self.stream.is_none() {
            let s = TcpStream::connect(self.addr)?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(Duration::from_secs(30)))?;
            self.stream = Some(s);
        }
        Ok(self.stream.as_mut().expect("just connected"))
    }

    /// Sends `req`, reads the whole response. Retries once on a connection the server had
    /// closed while idle.
    fn request(&mut self, req: &[u8]) -> std::io::Result<Response> {
        let fresh = self.stream.is_none();
        match self.try_request(req) {
            Ok(r) => Ok(r),
            Err(_) if !fresh => {
                self.stream = None;
                self.try_request(req)
            }
            Err(e) => Err(e),
        }
    }

    fn body(&self, r: &Response) -> &[u8] {
        &self.buf[r.body.clone()]
    }

    fn try_request(&mut self, req: &[u8]) -> std::io::Result<Response> {
        let result = self.exchange(req);
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    fn exchange(&mut self, req: &[u8]) -> std::io::Result<Response> {
        self.stream()?.write_all(req)?;
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let result = loop {
            match head(&buf) {
                Ok(Some(h)) if buf.len() >= h.end + h.length => break Ok(h),
                Ok(_) => {}
                Err(e) => break Err(e),
            }
            match read_more(self.stream()?, &mut buf) {
                Ok(0) => break Err(bad("connection closed inside the response")),
                Ok(_) => {}
                Err(e) => break Err(e),
            }
        };
        self.buf = buf;
        let h = result?;
        if h.close {
            self.stream = None;
        }
        Ok(Response {
            status: h.status,
            body: h.end..h.end + h.length,
        })
    }
}

fn bad(message: &str) -> std::io::Error {
    std::io::Error::new(ErrorKind::InvalidData, message.to_owned())
}

/// A parsed HTTP/1.1 response head.
struct Head {
    status: u16,
    /// Where the body starts.
    end: usize,
    length: usize,
    close: bool,
}

/// Parses the response head at the start of `buf`; `None` while it is incomplete.
fn head(buf: &[u8]) -> std::io::Result<Option<Head>> {
    let Some(end) = find(buf, b"\r\n\r\n").map(|i| i + 4) else {
        return Ok(None);
    };
    let text = std::str::from_utf8(&buf[..end]).map_err(|_| bad("non-UTF-8 headers"))?;
    let status: u16 = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status code"))?;
    let mut length = None;
    let mut close = false;
    for line in text.split("\r\n").skip(1) {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        if k.eq_ignore_ascii_case("content-length") {
            length = v.parse::<usize>().ok();
        } else if k.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close") {
            close = true;
        } else if k.eq_ignore_ascii_case("transfer-encoding") {
            return Err(bad("chunked responses are not supported"));
        }
    }
    let length = match (length, status) {
        (Some(n), _) => n,
        (None, 204 | 304) => 0,
        (None, _) => return Err(bad("no Content-Length")),
    };
    Ok(Some(Head {
        status,
        end,
        length,
        close,
    }))
}

fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let len = buf.len();
    if buf.capacity() - len < 16 * 1024 {
        buf.reserve(buf.capacity().max(64 * 1024));
    }
    buf.resize(buf.capacity(), 0);
    match stream.read(&mut buf[len..]) {
        Ok(n) => {
            buf.truncate(len + n);
            Ok(n)
        }
        Err(e) => {
            buf.truncate(len);
            Err(e)
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn rate(o: &Opts) -> Result<()> {
    let addr = o.addr()?;
    let req = post_request(o.str("path")?, &o.body()?);
    let rate: f64 = o.num("rate", 1000.0)?;
    let duration: f64 = o.num("duration", 10.0)?;
    let warmup: f64 = o.num("warmup", 2.0)?;
    let connections: usize = o.num("connections", 16)?;
    if !(rate > 0.0 && duration > 0.0 && connections > 0) {
        return Err("--rate, --duration and --connections must be positive".to_owned());
    }
    let run = fixed_rate::Run {
        addr,
        request: req,
        interval_ns: 1e9 / rate,
        warmup_ns: (warmup * 1e9) as u64,
        duration_ns: (duration * 1e9) as u64,
        connections,
    };
    let out = run.run().map_err(|e| e.to_string())?;
    let ns = |v: Vec<u64>| Stats::new(v.into_iter().map(Duration::from_nanos).collect());
    println!("target_rps={rate:.0}");
    println!("achieved_rps={:.0}", out.latencies.len() as f64 / duration);
    println!("errors={}", out.errors);
    println!("late_sends={}", out.late);
    ns(out.latencies).print("lat");
    ns(out.service).print("svc");
    Ok(())
}

/// Kills the child when dropped, so a failed run leaves no server behind.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get_ok(addr: SocketAddr, path: &str) -> bool {
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    let mut conn = Conn::new(addr);
    matches!(conn.request(req.as_bytes()), Ok(r) if r.status == 200)
}

fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn startup(args: &[String]) -> Result<()> {
    let split = args
        .iter()
        .position(|a| a == "--")
        .ok_or("needs -- CMD ...")?;
    let o = Opts::parse(&args[..split]);
    let cmd = &args[split + 1..];
    let (program, cmd_args) = cmd.split_first().ok_or("needs a command after --")?;
    let addr = o.addr()?;
    let runs: usize = o.num("runs", 5)?;
    let log = o.0.get("log").cloned();
    let mut times = Vec::new();
    let mut rss = Vec::new();
    for _ in 0..runs {
        let (out, err) = match &log {
            Some(file) => {
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(file)
                    .map_err(|e| format!("{file}: {e}"))?;
                let g = f.try_clone().map_err(|e| e.to_string())?;
                (Stdio::from(f), Stdio::from(g))
            }
            None => (Stdio::null(), Stdio::null()),
        };
        let mut command = Command::new(program);
        command
            .args(cmd_args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        // SAFETY: prctl is async-signal-safe; the server dies with this tool, however it
        // ends.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let t0 = Instant::now();
        let child = command.spawn().map_err(|e| format!("{program}: {e}"))?;
        let mut guard = Guard(child);
        loop {
            if get_ok(addr, "/readyz") {
                break;
            }
            if let Ok(Some(status)) = guard.0.try_wait() {
                return Err(format!("the server exited ({status}) before it was ready"));
            }
            if t0.elapsed() > Duration::from_secs(20) {
                return Err("not ready after 20 s".to_owned());
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        times.push(t0.elapsed());
        // Settle, then the idle RSS right after start-up.
        std::thread::sleep(Duration::from_millis(200));
        rss.extend(rss_kb(guard.0.id()));
        drop(guard);
        // Let the port be released before the next run.
        std::thread::sleep(Duration::from_millis(100));
    }
    for (i, t) in times.iter().enumerate() {
        println!("startup_run{}_ms={:.2}", i + 1, t.as_secs_f64() * 1e3);
    }
    Stats::new(times).print("startup");
    if let Some(max) = rss.iter().max() {
        println!("startup_rss_kb_max={max}");
    }
    Ok(())
}

fn reload(o: &Opts) -> Result<()> {
    let dir = PathBuf::from(o.str("dir")?);
    let file = o.str("file")?;
    let addr = o.addr()?;
    let req = post_request(o.str("path")?, &o.body()?);
    let swaps: usize = o.num("swaps", 20)?;
    let gap = Duration::from_millis(o.num("gap-ms", 300)?);
    let data_link = dir.join("..data");
    let mut conn = Conn::new(addr);
    let mut times = Vec::new();
    for n in 1..=swaps {
        let old = std::fs::read_link(&data_link).map_err(io(&data_link))?;
        let old_dir = dir.join(&old);
        let stamp = format!("..2026_08_20_11_{:02}_{:02}.{:09}", n / 60, n % 60, n);
        let new_dir = dir.join(&stamp);
        std::fs::create_dir(&new_dir).map_err(io(&new_dir))?;
        let expect = format!("busybox:swap-{n}");
        let mut changed = false;
        for entry in std::fs::read_dir(&old_dir).map_err(io(&old_dir))? {
            let entry = entry.map_err(io(&old_dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let mut text = std::fs::read_to_string(entry.path()).map_err(io(&entry.path()))?;
            if name == file {
                let at = text
                    .find("image: busybox")
                    .ok_or_else(|| format!("{file} has no `image: busybox`"))?;
                let eol = text[at..].find('\n').map_or(text.len(), |i| at + i);
                text.replace_range(at..eol, &format!("image: {expect}"));
                changed = true;
            }
            let path = new_dir.join(&name);
            std::fs::write(&path, text).map_err(io(&path))?;
        }
        if !changed {
            return Err(format!("{file} is not in {}", old_dir.display()));
        }
        let tmp = dir.join("..data_tmp");
        symlink(&stamp, &tmp)?;
        std::fs::rename(&tmp, &data_link).map_err(io(&data_link))?;
        let t0 = Instant::now();
        std::fs::remove_dir_all(&old_dir).map_err(io(&old_dir))?;
        loop {
            let r = conn.request(&req).map_err(|e| e.to_string())?;
            if r.status == 200 && find(conn.body(&r), expect.as_bytes()).is_some() {
                break;
            }
            if t0.elapsed() > Duration::from_secs(30) {
                return Err(format!("swap {n}: the new rule was not served after 30 s"));
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        let took = t0.elapsed();
        println!("reload_swap{n}_ms={:.1}", took.as_secs_f64() * 1e3);
        times.push(took);
        std::thread::sleep(gap);
    }
    Stats::new(times).print("reload");
    Ok(())
}

fn hiccups(o: &Opts) -> Result<()> {
    let threads: usize = o.num("threads", 1)?;
    let seconds: f64 = o.num("seconds", 3.0)?;
    let run = Duration::from_secs_f64(seconds);
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            std::thread::spawn(move || {
                let start = Instant::now();
                let end = start + run;
                let mut last = start;
                let (mut lost, mut max, mut over_1ms) = (Duration::ZERO, Duration::ZERO, 0u64);
                while last < end {
                    let now = Instant::now();
                    let gap = now - last;
                    if gap > Duration::from_micros(50) {
                        lost += gap;
                        max = max.max(gap);
                        if gap > Duration::from_millis(1) {
                            over_1ms += 1;
                        }
                    }
                    last = now;
                }
                (lost, max, over_1ms, last - start)
            })
        })
        .collect();
    let (mut lost, mut max, mut over, mut total) =
        (Duration::ZERO, Duration::ZERO, 0, Duration::ZERO);
    for h in handles {
        let (l, m, o, t) = h.join().map_err(|_| "a spinning thread panicked")?;
        lost += l;
        max = max.max(m);
        over += o;
        total += t;
    }
    println!("hiccup_threads={threads}");
    println!(
        "hiccup_lost_pct={:.1}",
        100.0 * lost.as_secs_f64() / total.as_secs_f64()
    );
    println!("hiccup_max_ms={:.2}", max.as_secs_f64() * 1e3);
    println!(
        "hiccup_over_1ms_per_s={:.1}",
        over as f64 / (total.as_secs_f64() / threads as f64)
    );
    Ok(())
}

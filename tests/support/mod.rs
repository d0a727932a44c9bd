//! Shared test plumbing: a running server, a tiny HTTP/1.1 client, and a ConfigMap-style
//! rule directory.

#![allow(dead_code)] // each test module uses a different part of this

pub mod configmap;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_rulehook");

/// The repository root, where `rules/` and `examples/` live.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A `rulehook serve` process, killed on drop.
pub struct Server {
    child: Child,
    pub addr: String,
}

impl Server {
    /// Starts the server on `rules` with extra flags, and waits until `/healthz` answers.
    pub fn start(rules: &Path, extra: &[&str]) -> Server {
        Server::start_with(rules, extra, false)
    }

    /// As [`Server::start`]; with `tls`, waits for the port to accept connections instead.
    pub fn start_with(rules: &Path, extra: &[&str], tls: bool) -> Server {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(BIN)
            .arg("serve")
            .arg("--rules")
            .arg(rules)
            .arg("--listen")
            .arg(&addr)
            .args(["--workers", "2", "--log", "warn"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start rulehook");
        let server = Server { child, addr };
        server.wait_until(Duration::from_secs(10), |s| {
            if tls {
                TcpStream::connect(&s.addr).is_ok()
            } else {
                s.get("/healthz").map(|r| r.status == 200).unwrap_or(false)
            }
        });
        server
    }

    /// Starts the server on `rules` with `extra` flags and no `--log` of its own, capturing
    /// its stdout (where `serve` logs) into the returned [`Log`].
    pub fn start_logged(rules: &Path, extra: &[&str]) -> (Server, Log) {
        Server::start_logged_with(rules, extra, None)
    }

    /// As [`Server::start_logged`]; with `open_files`, under that limit on open files (soft
    /// and hard, as a container runtime may set it).
    pub fn start_logged_with(
        rules: &Path,
        extra: &[&str],
        open_files: Option<u64>,
    ) -> (Server, Log) {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut command = match open_files {
            Some(n) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={n}:{n}")).arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        let mut child = command
            .arg("serve")
            .arg("--rules")
            .arg(rules)
            .arg("--listen")
            .arg(&addr)
            .args(["--workers", "2"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start rulehook");
        let log = Log::default();
        let mut stdout = child.stdout.take().expect("stdout");
        let sink = log.bytes.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            while let Ok(n) = stdout.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        });
        let server = Server { child, addr };
        server.wait_until(Duration::from_secs(10), |s| {
            s.get("/healthz").map(|r| r.status == 200).unwrap_or(false)
        });
        (server, log)
    }

    /// The bundled `rules/` directory.
    pub fn bundled() -> Server {
        Server::start(&repo().join("rules"), &[])
    }

    pub fn get(&self, path: &str) -> std::io::Result<Response> {
        self.request("GET", path, &[], b"")
    }

    pub fn post_json(&self, path: &str, body: &Value) -> Response {
        let bytes = serde_json::to_vec(body).unwrap();
        self.request(
            "POST",
            path,
            &[("Content-Type", "application/json")],
            &bytes,
        )
        .expect("request")
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Response> {
        http(&self.addr, method, path, headers, body)
    }

    /// Polls `check` until it holds or `timeout` passes; panics on timeout.
    pub fn wait_until(&self, timeout: Duration, check: impl Fn(&Server) -> bool) -> Duration {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if check(self) {
                return start.elapsed();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("condition not met within {timeout:?}");
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().expect("wait");
        std::mem::forget(self);
        status
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Everything a server wrote to stdout so far, as raw bytes.
#[derive(Clone, Default)]
pub struct Log {
    bytes: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl Log {
    pub fn bytes(&self) -> Vec<u8> {
        self.bytes.lock().unwrap().clone()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }

    /// How many lines contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.text().lines().filter(|l| l.contains(needle)).count()
    }

    /// Polls until at least `n` lines contain `needle`; panics after `timeout`.
    pub fn wait_for(&self, needle: &str, n: usize, timeout: Duration) {
        let start = Instant::now();
        while self.count(needle) < n {
            assert!(
                start.elapsed() < timeout,
                "fewer than {n} lines with `{needle}` within {timeout:?}:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The process's peak resident memory so far (`VmHWM`), in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// A connection to `addr` from 127.0.0.2: another peer than the tests' own 127.0.0.1 (all of
/// 127/8 is loopback on Linux), so it counts against another per-peer share.
pub fn from_another_peer(addr: &str) -> std::io::Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    let local: std::net::SocketAddr = "127.0.0.2:0".parse().unwrap();
    socket.bind(&local.into())?;
    let remote: std::net::SocketAddr = addr
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    socket.connect_timeout(&remote.into(), Duration::from_secs(2))?;
    Ok(socket.into())
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on a fresh connection, read until the server closes it.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes())?;
    // The server may answer (e.g. 413) before reading everything; that is fine.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw)
}

pub fn parse_response(raw: &[u8]) -> std::io::Result<Response> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_owned());
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Ok(Response {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    })
}

/// A realistic sync request for the hello controller, with `n` observed Pods.
pub fn hello_request(who: Option<&str>, pods: usize) -> Value {
    let mut request: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("tests/fixtures/hello-sync-v1.json")).unwrap(),
    )
    .unwrap();
    match who {
        Some(who) => request["parent"]["spec"]["who"] = Value::from(who),
        None => {
            request["parent"]["spec"]
                .as_object_mut()
                .unwrap()
                .remove("who");
        }
    }
    let template = request["children"]["Pod.v1"]["your-name"].clone();
    let mut children = serde_json::Map::new();
    for i in 0..pods {
        let mut pod = template.clone();
        let name = if i == 0 {
            "your-name".to_owned()
        } else {
            format!("your-name-{i}")
        };
        pod["metadata"]["name"] = Value::from(name.clone());
        children.insert(name, pod);
    }
    request["children"]["Pod.v1"] = Value::Object(children);
    request
}

/// Runs an offline `rulehook` command in `cwd` and waits for it.
pub fn rulehook(args: &[&str], cwd: &Path) -> std::process::Output {
    std::process::Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run rulehook")
}

pub fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

//! TLS (with certificate rotation and client certificates) and authentication, over real
//! connections on loopback. Certificates are generated at test time.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, SanType};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

use crate::support::{hello_request, parse_response, repo, Response, Server};

struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        Pki {
            ca: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    fn leaf(&self, client: bool) -> Leaf {
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params
            .subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
        if client {
            params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }

    fn write_ca(&self, path: &Path) {
        std::fs::write(path, self.ca.pem()).unwrap();
    }
}

fn client_config(pki: &Pki, client_cert: Option<&Leaf>) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca.der().clone()).unwrap();
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client_cert {
        None => builder.with_no_client_auth(),
        Some(leaf) => builder
            .with_client_auth_cert(
                vec![leaf.der.clone()],
                PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap(),
            )
            .unwrap(),
    };
    Arc::new(config)
}

/// One HTTPS request; also returns the certificate the server presented.
fn https(
    addr: &str,
    config: Arc<ClientConfig>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(Response, CertificateDer<'static>)> {
    let server_name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(config, server_name).map_err(std::io::Error::other)?;
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    tls.write_all(head.as_bytes())?;
    tls.write_all(body)?;
    let mut raw = Vec::new();
    match tls.read_to_end(&mut raw) {
        Ok(_) => {}
        // Servers may close without close_notify after `Connection: close`.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e),
    }
    let presented = tls
        .conn
        .peer_certificates()
        .and_then(|c| c.first().cloned())
        .ok_or_else(|| std::io::Error::other("no server certificate"))?;
    Ok((parse_response(&raw)?, presented))
}

fn hello_body() -> Vec<u8> {
    serde_json::to_vec(&hello_request(Some("TLS"), 0)).unwrap()
}

const JSON: (&str, &str) = ("Content-Type", "application/json");

#[test]
fn https_serves_hooks_and_picks_up_a_rotated_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new("test CA");
    let first = pki.leaf(false);
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert, &first.cert_pem).unwrap();
    std::fs::write(&key, &first.key_pem).unwrap();
    let server = Server::start_with(
        &repo().join("rules"),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--tls-reload-interval",
            "100ms",
        ],
        true,
    );
    let config = client_config(&pki, None);
    let (response, presented) = https(
        &server.addr,
        config.clone(),
        "POST",
        "/hello/sync",
        &[JSON],
        &hello_body(),
    )
    .unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.json()["children"][0]["spec"]["containers"][0]["command"][1],
        "Hello, TLS!"
    );
    assert_eq!(presented, first.der);
    assert!(
        server.get("/healthz").is_err() || server.get("/healthz").unwrap().status != 200,
        "plain HTTP is not served"
    );

    let second = pki.leaf(false);
    std::fs::write(&key, &second.key_pem).unwrap();
    std::fs::write(&cert, &second.cert_pem).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        // A fresh client each time: a resumed session would report the old certificate.
        let (_, presented) = https(
            &server.addr,
            client_config(&pki, None),
            "GET",
            "/healthz",
            &[],
            b"",
        )
        .unwrap();
        if presented == second.der {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the rotated certificate was not picked up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn client_certificates_are_required_and_verified_with_a_client_ca_except_for_probes() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new("server CA");
    let clients = Pki::new("client CA");
    let strangers = Pki::new("other CA");
    let leaf = pki.leaf(false);
    let (cert, key, ca) = (
        dir.path().join("tls.crt"),
        dir.path().join("tls.key"),
        dir.path().join("ca.crt"),
    );
    std::fs::write(&cert, &leaf.cert_pem).unwrap();
    std::fs::write(&key, &leaf.key_pem).unwrap();
    clients.write_ca(&ca);
    let server = Server::start_with(
        &repo().join("rules"),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--client-ca",
            ca.to_str().unwrap(),
        ],
        true,
    );
    let good = clients.leaf(true);
    let (response, _) = https(
        &server.addr,
        client_config(&pki, Some(&good)),
        "POST",
        "/hello/sync",
        &[JSON],
        &hello_body(),
    )
    .unwrap();
    assert_eq!(response.status, 200);
    // Without a certificate the connection is allowed, so that kubelet probes work, but
    // nothing besides the probes answers.
    let anonymous = |method: &str, path: &str, body: &[u8]| {
        https(
            &server.addr,
            client_config(&pki, None),
            method,
            path,
            &[JSON],
            body,
        )
        .unwrap()
        .0
        .status
    };
    assert_eq!(anonymous("POST", "/hello/sync", &hello_body()), 403);
    assert_eq!(anonymous("GET", "/rules", b""), 403);
    assert_eq!(anonymous("GET", "/metrics", b""), 403);
    assert_eq!(anonymous("GET", "/healthz", b""), 200);
    assert_eq!(anonymous("GET", "/readyz", b""), 200);
    let stranger = strangers.leaf(true);
    assert!(https(
        &server.addr,
        client_config(&pki, Some(&stranger)),
        "POST",
        "/hello/sync",
        &[JSON],
        &hello_body()
    )
    .is_err());
}

#[test]
fn bearer_token_and_basic_auth_guard_hooks_but_not_probes() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    let users = dir.path().join("users");
    std::fs::write(&token, "s3cret-token\n").unwrap();
    std::fs::write(&users, "# user:password\nmetacontroller:pa55\n").unwrap();
    let server = Server::start(
        &repo().join("rules"),
        &[
            "--auth-token-file",
            token.to_str().unwrap(),
            "--basic-auth-file",
            users.to_str().unwrap(),
        ],
    );
    let body = hello_body();
    let call = |auth: Option<&str>| {
        let mut headers = vec![JSON];
        if let Some(a) = auth {
            headers.push(("Authorization", a));
        }
        server
            .request("POST", "/hello/sync", &headers, &body)
            .unwrap()
    };
    let denied = call(None);
    assert_eq!(denied.status, 401);
    assert_eq!(
        denied.header("www-authenticate"),
        Some("Bearer realm=\"rulehook\"")
    );
    assert_eq!(call(Some("Bearer wrong")).status, 401);
    assert_eq!(call(Some("Bearer s3cret-token")).status, 200);
    // base64("metacontroller:pa55")
    assert_eq!(call(Some("Basic bWV0YWNvbnRyb2xsZXI6cGE1NQ==")).status, 200);
    assert_eq!(call(Some("Basic bWV0YWNvbnRyb2xsZXI6cGE1Ng==")).status, 401);
    assert_eq!(server.get("/healthz").unwrap().status, 200);
    assert_eq!(server.get("/readyz").unwrap().status, 200);
    assert_eq!(server.get("/metrics").unwrap().status, 401);
    assert_eq!(server.get("/rules").unwrap().status, 401);
    let metrics = server
        .request(
            "GET",
            "/metrics",
            &[("Authorization", "Bearer s3cret-token")],
            b"",
        )
        .unwrap();
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .text()
            .contains("rulehook_requests_total{rule=\"hello\",hook=\"sync\",code=\"401\"} 3"),
        "{}",
        metrics.text()
    );
}

/// Starts `rulehook serve` with `extra` flags and waits for it to exit. One still running
/// after 5 s is asked `probe` over HTTP, then killed; the answer is the error.
fn serve_until_exit(
    extra: &[&str],
    probe: impl FnOnce(&str) -> String,
) -> Result<std::process::Output, String> {
    let addr = format!("127.0.0.1:{}", crate::support::free_port());
    let mut child = std::process::Command::new(crate::support::BIN)
        .arg("serve")
        .arg("--rules")
        .arg(repo().join("rules"))
        .args(["--listen", &addr])
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let answer = probe(&addr);
            let _ = child.kill();
            let _ = child.wait();
            return Err(answer);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(child.wait_with_output().unwrap())
}

#[test]
fn a_basic_auth_line_with_an_empty_password_or_user_stops_the_server_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users");
    // Each line with the credential it would let in: base64 of the line.
    for (line, credential, says) in [
        (
            "metacontroller:",
            "Basic bWV0YWNvbnRyb2xsZXI6",
            "the password is empty",
        ),
        (":pa55", "Basic OnBhNTU=", "the user name is empty"),
    ] {
        std::fs::write(&users, format!("# user:password\n{line}\n")).unwrap();
        let output = serve_until_exit(&["--basic-auth-file", users.to_str().unwrap()], |addr| {
            let status = crate::support::http(
                addr,
                "POST",
                "/hello/sync",
                &[JSON, ("Authorization", credential)],
                &hello_body(),
            )
            .map(|r| r.status);
            format!("`{line}` was accepted; a hook call with {credential} got {status:?}")
        })
        .unwrap_or_else(|why| panic!("{why}"));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{line}: {stderr}");
        let at = format!("{}:2: {says}", users.display());
        assert!(stderr.contains(&at), "{line}: expected `{at}` in: {stderr}");
    }
}

//! TLS for the hook server: rustls, with the certificate re-read when its files change (as
//! cert-manager rotates them), and optional client-certificate verification.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::crypto::ring;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{path}: no certificate found")]
    NoCertificate { path: PathBuf },
    #[error("the key in {path} is unusable or does not match the certificate: {source}")]
    Key {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error("client CA {path}: {source}")]
    ClientCa {
        path: PathBuf,
        #[source]
        source: rustls::server::VerifierBuilderError,
    },
    #[error("tls configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// Serves the current certificate and swaps in a new one when its files change.
#[derive(Debug)]
pub struct CertReloader {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: ArcSwap<CertifiedKey>,
    stamp: std::sync::Mutex<Option<(SystemTime, SystemTime)>>,
}

fn file_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Reads a PEM certificate chain and private key.
pub fn load_certified_key(cert_path: &Path, key_path: &Path) -> Result<CertifiedKey, Error> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| file_error(cert_path, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_error(cert_path, e))?;
    if chain.is_empty() {
        return Err(Error::NoCertificate {
            path: cert_path.to_path_buf(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| file_error(key_path, e))?;
    let signing_key = ring::sign::any_supported_type(&key).map_err(|source| Error::Key {
        path: key_path.to_path_buf(),
        source,
    })?;
    let certified = CertifiedKey::new(chain, signing_key);
    // Mid-rotation the key may already be new while the certificate is still old.
    certified.keys_match().map_err(|source| Error::Key {
        path: key_path.to_path_buf(),
        source,
    })?;
    Ok(certified)
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl CertReloader {
    /// Loads the certificate once.
    ///
    /// # Errors
    ///
    /// When the files cannot be read or do not hold a usable certificate and key.
    pub fn new(cert_path: &Path, key_path: &Path) -> Result<Arc<Self>, Error> {
        let key = load_certified_key(cert_path, key_path)?;
        Ok(Arc::new(CertReloader {
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            current: ArcSwap::from_pointee(key),
            stamp: std::sync::Mutex::new(modified(cert_path).zip(modified(key_path))),
        }))
    }

    /// Re-reads the files if either changed since the last look. A broken pair (e.g. the
    /// certificate written before its key) keeps the old certificate serving.
    pub fn refresh(&self) -> bool {
        let now = modified(&self.cert_path).zip(modified(&self.key_path));
        let Ok(mut stamp) = self.stamp.lock() else {
            return false;
        };
        if now.is_none() || now == *stamp {
            return false;
        }
        match load_certified_key(&self.cert_path, &self.key_path) {
            Ok(key) => {
                self.current.store(Arc::new(key));
                *stamp = now;
                tracing::info!(cert = %self.cert_path.display(), "TLS certificate reloaded");
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "new TLS certificate not usable yet; keeping the current one");
                false
            }
        }
    }

    /// Checks the files every `period` for the life of the process.
    pub fn spawn_refresh(self: &Arc<Self>, period: Duration) {
        let this = Arc::clone(self);
        let _ = std::thread::Builder::new()
            .name("tls-reload".to_owned())
            .spawn(move || loop {
                std::thread::sleep(period);
                this.refresh();
            });
    }
}

impl ResolvesServerCert for CertReloader {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// The rustls server configuration: our certificate, and client certificates required and
/// verified against `client_ca` when it is given.
///
/// # Errors
///
/// When the client CA file cannot be read or holds no usable certificate.
pub fn server_config(
    certs: Arc<CertReloader>,
    client_ca: Option<&Path>,
) -> Result<ServerConfig, Error> {
    let provider = Arc::new(ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| file_error(path, e))? {
                let cert = cert.map_err(|e| file_error(path, e))?;
                roots.add(cert).map_err(|e| file_error(path, e))?;
            }
            // A client without a certificate may connect, so the kubelet's HTTPS probes reach
            // `/healthz`; every other route refuses it (see `server::authorize`). A client
            // that presents a certificate the CA did not sign is still refused here.
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .map_err(|source| Error::ClientCa {
                    path: path.to_path_buf(),
                    source,
                })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(certs);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

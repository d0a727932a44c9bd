//! Request authentication: an optional bearer token and optional basic-auth users, as
//! Metacontroller's webhook client can send them.
//!
//! Credentials are compared as SHA-256 digests in constant time, so neither the content nor
//! the length of a guess shows in the response time.

use std::path::Path;

use sha2::{Digest, Sha256};

type Digest32 = [u8; 32];

/// Accepted credentials; empty means every request is allowed.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    bearer: Option<Digest32>,
    basic: Vec<Digest32>,
}

/// Why a credential file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: the token is empty")]
    EmptyToken { path: String },
    #[error("{path}:{line}: expected `user:password`")]
    BadLine { path: String, line: usize },
    /// `user:` would let in anyone who knows the user name.
    #[error("{path}:{line}: the password is empty; write `user:password` with a password, or remove the line")]
    EmptyPassword { path: String, line: usize },
    /// `:password` would let in anyone who knows the password, under no name.
    #[error("{path}:{line}: the user name is empty; write `user:password` with a user name before the `:`")]
    EmptyUser { path: String, line: usize },
    /// A file of comments only would otherwise turn authentication off without a word.
    #[error("{path}: no `user:password` line; add a user or drop --basic-auth-file")]
    NoUsers { path: String },
}

fn digest(bytes: &[u8]) -> Digest32 {
    Sha256::digest(bytes).into()
}

fn same(a: &Digest32, b: &Digest32) -> bool {
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

impl Auth {
    /// Reads the token file (one token, surrounding whitespace ignored) and the basic-auth
    /// file (`user:password` per line, neither part empty; `#` comments and blank lines
    /// ignored).
    ///
    /// A file that was given must hold a credential: an empty one is an error rather than
    /// "no authentication", since the operator asked for authentication.
    ///
    /// # Errors
    ///
    /// When a file cannot be read or is malformed.
    pub fn from_files(token: Option<&Path>, basic: Option<&Path>) -> Result<Auth, Error> {
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|source| Error::Read {
                path: p.display().to_string(),
                source,
            })
        };
        let mut auth = Auth::default();
        if let Some(path) = token {
            let text = read(path)?;
            let token = text.trim();
            if token.is_empty() {
                return Err(Error::EmptyToken {
                    path: path.display().to_string(),
                });
            }
            auth.bearer = Some(digest(token.as_bytes()));
        }
        if let Some(path) = basic {
            auth.basic = parse_users(&path.display().to_string(), &read(path)?)?;
        }
        Ok(auth)
    }

    pub fn is_enabled(&self) -> bool {
        self.bearer.is_some() || !self.basic.is_empty()
    }

    /// Whether an `Authorization` header value carries an accepted credential.
    pub fn allows(&self, header: Option<&str>) -> bool {
        if !self.is_enabled() {
            return true;
        }
        let Some(header) = header else { return false };
        let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            let given = digest(rest.as_bytes());
            return self.bearer.as_ref().is_some_and(|want| same(want, &given));
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let Some(decoded) = decode_base64(rest) else {
                return false;
            };
            let given = digest(&decoded);
            // Compare with every user, so the time does not say which one matched.
            return self
                .basic
                .iter()
                .fold(false, |found, want| found | same(want, &given));
        }
        false
    }

    /// The `WWW-Authenticate` challenge for a 401.
    pub fn challenge(&self) -> &'static str {
        if self.bearer.is_some() {
            "Bearer realm=\"rulehook\""
        } else {
            "Basic realm=\"rulehook\""
        }
    }
}

/// The accepted `user:password` lines of a basic-auth file, as digests of the whole line.
/// `path` only labels the errors.
///
/// # Errors
///
/// At the first line that is not `user:password` with both parts non-empty (the password may
/// itself hold `:`), and when no line is left besides comments and blanks.
fn parse_users(path: &str, text: &str) -> Result<Vec<Digest32>, Error> {
    let mut users = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once(':') {
            Some((user, password)) if !user.is_empty() && !password.is_empty() => {
                users.push(digest(line.as_bytes()));
            }
            found => {
                let (path, line) = (path.to_owned(), i + 1);
                return Err(match found {
                    None => Error::BadLine { path, line },
                    Some(("", _)) => Error::EmptyUser { path, line },
                    Some(_) => Error::EmptyPassword { path, line },
                });
            }
        }
    }
    if users.is_empty() {
        return Err(Error::NoUsers {
            path: path.to_owned(),
        });
    }
    Ok(users)
}

/// Standard base64 with padding, as HTTP basic auth uses.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= value(*c)? << (18 - 6 * i);
        }
        let produced = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        for i in 0..produced {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(token: Option<&str>, users: &[&str]) -> Auth {
        Auth {
            bearer: token.map(|t| digest(t.as_bytes())),
            basic: users.iter().map(|u| digest(u.as_bytes())).collect(),
        }
    }

    #[test]
    fn no_credentials_configured_allows_everything() {
        assert!(Auth::default().allows(None));
    }

    #[test]
    fn bearer_tokens() {
        let a = auth(Some("s3cret"), &[]);
        assert!(a.allows(Some("Bearer s3cret")));
        assert!(a.allows(Some("bearer  s3cret ")));
        assert!(!a.allows(Some("Bearer s3cre")));
        assert!(!a.allows(Some("Basic czNjcmV0")));
        assert!(!a.allows(None));
    }

    #[test]
    fn basic_users() {
        let a = auth(None, &["meta:pa:ss"]);
        // base64("meta:pa:ss")
        assert!(a.allows(Some("Basic bWV0YTpwYTpzcw==")));
        assert!(!a.allows(Some("Basic bWV0YTpwYXNz")));
        assert!(!a.allows(Some("Basic !!!")));
    }

    #[test]
    fn a_basic_auth_file_without_users_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        std::fs::write(&path, "# meta:secret\n\n  \n").unwrap();
        let err = Auth::from_files(None, Some(&path)).unwrap_err();
        assert!(matches!(err, Error::NoUsers { .. }), "{err}");
        std::fs::write(&path, "# ops\nmeta:secret\n").unwrap();
        assert!(Auth::from_files(None, Some(&path)).unwrap().is_enabled());
    }

    #[test]
    fn an_empty_password_is_refused_with_its_line() {
        let err = parse_users("users", "# ops\nmeta:secret\nnobody:\n").unwrap_err();
        assert!(matches!(err, Error::EmptyPassword { line: 3, .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "users:3: the password is empty; write `user:password` with a password, or remove the line"
        );
        // Trailing blanks are no password either.
        let err = parse_users("users", "nobody:   \n").unwrap_err();
        assert!(matches!(err, Error::EmptyPassword { line: 1, .. }), "{err}");
    }

    #[test]
    fn an_empty_user_is_refused_with_its_line() {
        let err = parse_users("users", "meta:secret\n:secret\n").unwrap_err();
        assert!(matches!(err, Error::EmptyUser { line: 2, .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with("users:2: the user name is empty;"),
            "{err}"
        );
        let err = parse_users("users", ":\n").unwrap_err();
        assert!(matches!(err, Error::EmptyUser { line: 1, .. }), "{err}");
    }

    #[test]
    fn a_password_may_hold_a_colon() {
        let users = parse_users("users", "meta:pa:ss\n").unwrap();
        assert_eq!(users, vec![digest(b"meta:pa:ss")]);
    }

    #[test]
    fn base64_round_trips() {
        assert_eq!(decode_base64("aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(decode_base64("aGk="), Some(b"hi".to_vec()));
        assert_eq!(decode_base64(""), Some(vec![]));
    }
}

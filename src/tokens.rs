//! API tokens: who may do what. The tokens file (`--tokens-file`) holds, one token a line, its
//! name, its scopes and the SHA-256 of the token, never the token itself; an ingest token may
//! be bound to the pushed sources it may write (`sources=` names, or prefixes ending in `*`):
//!
//! ```text
//! # name   scopes         sha256 of the token (hex)   [sources it may push to]
//! alice    read,metrics   3f5a...c2
//! shipper  ingest         9b1e...07                   sources=web-*,db-1
//! ```
//!
//! The file is read at start and again on SIGHUP ([`TokenStore::reload`]), so a token can be
//! revoked without a restart. A file that others may write is refused: whoever can write it
//! can grant themselves every scope. Others may read it (it holds only hashes).
//!
//! `loggerator token new NAME --scope read` prints a fresh token and the line to add. A
//! presented token is hashed and compared with every hash in constant time, so neither the
//! comparison's duration nor its early exit tells how much of a guess was right.

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use thiserror::Error;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Queries, the live tail, stats, `/sources`, `/rejected`.
    Read,
    /// Pushing lines (`POST /ingest`).
    Ingest,
    /// `GET /metrics`.
    Metrics,
    /// Everything.
    Admin,
}

impl Scope {
    pub const ALL: [(&'static str, Scope); 4] = [
        ("read", Scope::Read),
        ("ingest", Scope::Ingest),
        ("metrics", Scope::Metrics),
        ("admin", Scope::Admin),
    ];

    pub fn parse(name: &str) -> Option<Scope> {
        Self::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, scope)| scope)
    }

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, s)| *s == self)
            .map_or("?", |(n, _)| n)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One configured token, by the hash of its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenEntry {
    pub name: String,
    pub scopes: Vec<Scope>,
    pub sha256: [u8; 32],
    /// The pushed sources it may write; `None`: any.
    pub sources: Option<Vec<SourcePattern>>,
}

impl TokenEntry {
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope) || self.scopes.contains(&Scope::Admin)
    }

    /// Whether it may push to the source `push:NAME`.
    pub fn may_push_to(&self, name: &str) -> bool {
        self.sources
            .as_ref()
            .is_none_or(|patterns| patterns.iter().any(|p| p.matches(name)))
    }
}

/// A pushed source's name, or a prefix of names (written with a trailing `*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourcePattern {
    Name(String),
    Prefix(String),
}

impl SourcePattern {
    fn parse(text: &str) -> Option<SourcePattern> {
        let pattern = match text.strip_suffix('*') {
            Some(prefix) => SourcePattern::Prefix(prefix.to_owned()),
            None => SourcePattern::Name(text.to_owned()),
        };
        let body = match &pattern {
            SourcePattern::Name(name) => name,
            SourcePattern::Prefix(prefix) => prefix,
        };
        // A lone `*` would be every source: leave the field out for that.
        (!body.is_empty() && !body.contains('*')).then_some(pattern)
    }

    fn matches(&self, name: &str) -> bool {
        match self {
            SourcePattern::Name(exact) => exact == name,
            SourcePattern::Prefix(prefix) => name.starts_with(prefix.as_str()),
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum TokensError {
    #[error("cannot read the tokens file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path}, line {line}: {reason}")]
    Line {
        path: String,
        line: usize,
        reason: String,
    },
    #[error("{path} holds no token: with no token every request would be refused")]
    Empty { path: String },
    #[error(
        "{path} may be written by others (mode {mode:o}): whoever can write it can grant \
         themselves every scope; chmod go-w it"
    )]
    Writable { path: String, mode: u32 },
}

/// The tokens file and the tokens it held when last read.
#[derive(Debug)]
pub struct TokenStore {
    path: PathBuf,
    current: RwLock<Arc<Tokens>>,
}

impl TokenStore {
    pub fn open(path: &Path) -> Result<TokenStore, TokensError> {
        Ok(TokenStore {
            path: path.to_owned(),
            current: RwLock::new(Arc::new(Tokens::load(path)?)),
        })
    }

    /// The tokens in force.
    pub fn current(&self) -> Arc<Tokens> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reads the file again; on an error the tokens in force stay. Returns how many there are:
    /// a file emptied of tokens is taken (none then gets in), so the last token can be revoked.
    pub fn reload(&self) -> Result<usize, TokensError> {
        let tokens = Arc::new(Tokens::read(&self.path)?);
        let count = tokens.len();
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = tokens;
        Ok(count)
    }
}

/// The configured tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tokens {
    entries: Vec<Arc<TokenEntry>>,
}

impl Tokens {
    /// The tokens of the file at `path`, which must hold at least one (at start, a file with
    /// none is a mistake: every request would be refused).
    pub fn load(path: &Path) -> Result<Tokens, TokensError> {
        let tokens = Self::read(path)?;
        if tokens.entries.is_empty() {
            return Err(TokensError::Empty {
                path: path.display().to_string(),
            });
        }
        Ok(tokens)
    }

    /// The tokens of the file at `path`, refused if others may write it. The mode checked is
    /// that of the file opened and read, not of whatever the path names a moment later.
    fn read(path: &Path) -> Result<Tokens, TokensError> {
        use std::io::Read as _;
        let shown = path.display().to_string();
        let read_error = |e: std::io::Error| TokensError::Read {
            path: shown.clone(),
            reason: e.to_string(),
        };
        let mut file = std::fs::File::open(path).map_err(read_error)?;
        let mode = file.metadata().map_err(read_error)?.permissions().mode();
        if mode & 0o022 != 0 {
            return Err(TokensError::Writable {
                path: shown,
                mode: mode & 0o7777,
            });
        }
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(read_error)?;
        Self::parse(&text, &shown)
    }

    /// The tokens of a file's text; `path` only names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Tokens, TokensError> {
        let mut entries: Vec<Arc<TokenEntry>> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let bad = |reason: String| TokensError::Line {
                path: path.to_owned(),
                line: i + 1,
                reason,
            };
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (name, scopes, hash, sources) = match fields[..] {
                [name, scopes, hash] => (name, scopes, hash, None),
                [name, scopes, hash, sources] => (name, scopes, hash, Some(sources)),
                _ => {
                    return Err(bad(format!(
                        "expected `NAME SCOPES SHA256 [sources=NAMES]` (three or four fields), \
                         found {}",
                        fields.len()
                    )))
                }
            };
            let scopes = scopes
                .split(',')
                .map(|s| {
                    Scope::parse(s).ok_or_else(|| {
                        bad(format!(
                            "unknown scope {s:?}; scopes are read, ingest, metrics and admin"
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let sha256 = decode_sha256(hash).ok_or_else(|| {
                bad("the third field must be the token's SHA-256, 64 hex digits".to_owned())
            })?;
            let sources = sources.map(parse_sources).transpose().map_err(bad)?;
            if entries.iter().any(|e| e.name == name) {
                return Err(bad(format!("the name {name:?} is used twice")));
            }
            if entries.iter().any(|e| e.sha256 == sha256) {
                return Err(bad("this token is listed twice".to_owned()));
            }
            entries.push(Arc::new(TokenEntry {
                name: name.to_owned(),
                scopes,
                sha256,
                sources,
            }));
        }
        Ok(Tokens { entries })
    }

    /// The entry of a presented token, if it is one. Every hash is compared, in constant time.
    pub fn find(&self, presented: &str) -> Option<Arc<TokenEntry>> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for entry in &self.entries {
            if bool::from(entry.sha256.ct_eq(&digest)) {
                found = Some(entry.clone());
            }
        }
        found
    }

    /// Whether `entry` (found in these or earlier tokens) still grants `scope`: a token revoked
    /// or narrowed by a reload does not.
    pub fn still_grants(&self, entry: &TokenEntry, scope: Scope) -> bool {
        self.entries
            .iter()
            .any(|e| e.sha256 == entry.sha256 && e.allows(scope))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The fourth field: `sources=` and a comma-separated list of names and `prefix*`es.
fn parse_sources(field: &str) -> Result<Vec<SourcePattern>, String> {
    let list = field
        .strip_prefix("sources=")
        .ok_or_else(|| format!("the fourth field must be sources=NAMES, not {field:?}"))?;
    list.split(',')
        .map(|item| {
            SourcePattern::parse(item).ok_or_else(|| {
                format!(
                    "sources= takes names and prefixes ending in `*` (one `*`, at the end, \
                     after at least one character), not {item:?}"
                )
            })
        })
        .collect()
}

fn decode_sha256(hex: &str) -> Option<[u8; 32]> {
    // from_str_radix takes a sign (`+f`): only hex digits are a hash.
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

pub fn sha256_hex(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A fresh token (`lgr_` and 32 random bytes, base64url) and its tokens-file line.
pub fn new_token(name: &str, scopes: &[Scope]) -> (String, String) {
    use base64::Engine as _;
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let token = format!(
        "lgr_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
    );
    let scopes: Vec<&str> = scopes.iter().map(|s| s.name()).collect();
    let line = format!("{name} {} {}", scopes.join(","), sha256_hex(&token));
    (token, line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_token_is_found_by_its_line_and_nothing_else_is() {
        let (token, line) = new_token("alice", &[Scope::Read, Scope::Metrics]);
        let tokens = Tokens::parse(&format!("# comment\n\n{line}  # trailing\n"), "t").unwrap();
        let entry = tokens.find(&token).unwrap();
        assert_eq!(entry.name, "alice");
        assert!(entry.allows(Scope::Read) && entry.allows(Scope::Metrics));
        assert!(!entry.allows(Scope::Ingest));
        assert!(tokens.find("lgr_wrong").is_none());
        assert!(tokens.find(&token[..token.len() - 1]).is_none());
        assert!(!tokens.to_string_lossy().contains(&token));
    }

    #[test]
    fn admin_allows_every_scope() {
        let (_, line) = new_token("root", &[Scope::Admin]);
        let tokens = Tokens::parse(&line, "t").unwrap();
        let entry = &tokens.entries[0];
        for (_, scope) in Scope::ALL {
            assert!(entry.allows(scope));
        }
    }

    #[test]
    fn bad_lines_are_refused_with_their_number() {
        let hash = sha256_hex("x");
        for (text, wanted) in [
            ("a read".to_owned(), "three or four fields"),
            (format!("a write {hash}"), "unknown scope"),
            ("a read abc".to_owned(), "64 hex digits"),
            (format!("a read +{}", &hash[1..]), "64 hex digits"),
            (
                format!("a read {hash}\na ingest {}", sha256_hex("y")),
                "used twice",
            ),
            (format!("a read {hash}\nb ingest {hash}"), "listed twice"),
            (format!("a ingest {hash} web-*"), "sources=NAMES"),
            (format!("a ingest {hash} sources=*"), "not \"*\""),
            (format!("a ingest {hash} sources=a,"), "not \"\""),
            (format!("a ingest {hash} sources=w*b"), "not \"w*b\""),
            (format!("a ingest {hash} sources=a b"), "found 5"),
        ] {
            let error = Tokens::parse(&text, "tokens.txt").unwrap_err().to_string();
            assert!(error.contains(wanted), "{text}: {error}");
            assert!(error.starts_with("tokens.txt, line "), "{error}");
        }
    }

    #[test]
    fn a_token_bound_to_sources_pushes_only_to_them() {
        let hash = sha256_hex("x");
        let tokens = Tokens::parse(&format!("a ingest {hash} sources=web-*,db-1"), "t").unwrap();
        let entry = tokens.find("x").unwrap();
        for name in ["web-", "web-1", "web-eu-2", "db-1"] {
            assert!(entry.may_push_to(name), "{name}");
        }
        for name in ["db-10", "db", "we", "api", "push"] {
            assert!(!entry.may_push_to(name), "{name}");
        }
        let free = Tokens::parse(&format!("a ingest {hash}"), "t").unwrap();
        assert!(free.find("x").unwrap().may_push_to("anything"));
    }

    #[test]
    fn a_file_others_may_write_is_refused_and_a_readable_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        let (token, line) = new_token("a", &[Scope::Read]);
        std::fs::write(&path, line).unwrap();
        for mode in [0o620, 0o602, 0o666] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let error = TokenStore::open(&path).unwrap_err();
            assert!(
                matches!(error, TokensError::Writable { .. }),
                "{mode:o}: {error}"
            );
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let store = TokenStore::open(&path).unwrap();
        assert!(store.current().find(&token).is_some());

        // A reload takes a revocation, and keeps the tokens in force when the file is refused.
        let (other, other_line) = new_token("b", &[Scope::Read]);
        std::fs::write(&path, &other_line).unwrap();
        assert_eq!(store.reload().unwrap(), 1);
        assert!(store.current().find(&token).is_none());
        assert!(store.current().find(&other).is_some());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(store.reload().is_err());
        assert!(store.current().find(&other).is_some());
        // Emptied, the file revokes every token (at start it would be refused as a mistake).
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, "# nobody\n").unwrap();
        assert_eq!(store.reload().unwrap(), 0);
        assert!(store.current().find(&other).is_none());
        assert!(TokenStore::open(&path).is_err());
    }

    impl Tokens {
        fn to_string_lossy(&self) -> String {
            format!("{self:?}")
        }
    }
}

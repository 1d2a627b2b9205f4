//! Reason codes: the stable word that every error body (`code`) and an unhealthy `/healthz`
//! carry beside their text, for clients to branch on (the text may change between releases;
//! a code does not). They are defined here once: the OpenAPI document lists them (the schema of
//! `code`), the table in `docs/api.md` is checked against [`Reason::ALL`], and new work (storage, other
//! backends) adds its codes here in the same form.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    // The request (4xx).
    BadParameter,
    NotFound,
    MethodNotAllowed,
    TokenRequired,
    TokenInvalid,
    ScopeMissing,
    SourceNotAllowed,
    HostNotAllowed,
    CrossOrigin,
    BodyTooLarge,
    BodyTimeout,
    KeyInUse,
    KeyReused,
    TooManyPushedSources,
    // Capacity (503, with Retry-After).
    Busy,
    Timeout,
    TooManyFollowers,
    TooManyPushes,
    // The service (5xx, and `/healthz`).
    Unavailable,
    Internal,
    DiskFull,
    StorageIo,
    StorageReadOnly,
    StorageLocked,
    StorageCorrupt,
    BlockCorrupt,
    WriterPanicked,
    DatabaseUnopenable,
    StorageFailing,
}

impl Reason {
    /// Every code, its spelling (serde's, checked by a test) and what it means; the table in `docs/api.md`
    /// holds the same lines.
    pub const ALL: [(Reason, &'static str, &'static str); 29] = [
        (
            Reason::BadParameter,
            "bad_parameter",
            "a parameter is wrong; `parameter` names it",
        ),
        (Reason::NotFound, "not_found", "no such path"),
        (
            Reason::MethodNotAllowed,
            "method_not_allowed",
            "the path takes another method (see `Allow`)",
        ),
        (
            Reason::TokenRequired,
            "token_required",
            "a token is required",
        ),
        (
            Reason::TokenInvalid,
            "token_invalid",
            "the token presented is not valid",
        ),
        (
            Reason::ScopeMissing,
            "scope_missing",
            "the token lacks the scope this needs",
        ),
        (
            Reason::SourceNotAllowed,
            "source_not_allowed",
            "the token may not push to this source",
        ),
        (
            Reason::HostNotAllowed,
            "host_not_allowed",
            "without tokens, the Host named is not this service's",
        ),
        (
            Reason::CrossOrigin,
            "cross_origin",
            "without tokens, a write from another origin",
        ),
        (
            Reason::BodyTooLarge,
            "body_too_large",
            "the body is larger than its cap",
        ),
        (
            Reason::BodyTimeout,
            "body_timeout",
            "no bytes of the body came for --push-idle-timeout-ms",
        ),
        (
            Reason::KeyInUse,
            "key_in_use",
            "a request with this Idempotency-Key is being read now",
        ),
        (
            Reason::KeyReused,
            "key_reused",
            "the Idempotency-Key was used for another body",
        ),
        (
            Reason::TooManyPushedSources,
            "too_many_pushed_sources",
            "--max-pushed-sources pushed sources exist already",
        ),
        (Reason::Busy, "busy", "too many queries in flight"),
        (
            Reason::Timeout,
            "timeout",
            "the query took longer than --query-timeout-ms",
        ),
        (
            Reason::TooManyFollowers,
            "too_many_followers",
            "--max-tail-followers live tails are open",
        ),
        (
            Reason::TooManyPushes,
            "too_many_pushes",
            "--max-pushes-in-flight bodies are being read",
        ),
        (
            Reason::Unavailable,
            "unavailable",
            "storage cannot take or answer this now",
        ),
        (
            Reason::Internal,
            "internal",
            "an internal error (the details are in the service's log)",
        ),
        (
            Reason::DiskFull,
            "disk_full",
            "the disk is full: no line is stored until there is room",
        ),
        (
            Reason::StorageIo,
            "storage_io",
            "the disk reports I/O errors",
        ),
        (
            Reason::StorageReadOnly,
            "storage_read_only",
            "the database cannot be written (read-only file or disk)",
        ),
        (
            Reason::StorageLocked,
            "storage_locked",
            "another process holds the database's lock",
        ),
        (
            Reason::StorageCorrupt,
            "storage_corrupt",
            "the database file is damaged or not a database",
        ),
        (
            Reason::BlockCorrupt,
            "block_corrupt",
            "a compacted block the query needs fails its checksum (`/healthz` lists it)",
        ),
        (
            Reason::WriterPanicked,
            "writer_panicked",
            "the database writer failed and is starting again",
        ),
        (
            Reason::DatabaseUnopenable,
            "database_unopenable",
            "the database cannot be opened again: the service stops",
        ),
        (
            Reason::StorageFailing,
            "storage_failing",
            "commits fail for another reason (see the service's log)",
        ),
    ];

    /// The code as clients see it.
    pub fn code(self) -> &'static str {
        Self::entry(self).1
    }

    /// What the code means, for a body's text where the raw error must not be shown.
    pub fn meaning(self) -> &'static str {
        Self::entry(self).2
    }

    fn entry(self) -> (Reason, &'static str, &'static str) {
        Self::ALL
            .into_iter()
            .find(|(reason, _, _)| *reason == self)
            .unwrap_or((self, "internal", ""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_code_is_listed_once_and_spelled_as_serde_writes_it() {
        for (reason, code, meaning) in Reason::ALL {
            assert_eq!(serde_json::to_value(reason).unwrap(), code);
            assert!(!meaning.is_empty(), "{code}");
            let same = Reason::ALL.iter().filter(|(r, _, _)| *r == reason).count();
            assert_eq!(same, 1, "{code}");
        }
    }
}

//! The OpenAPI document: its header here, each operation on its handler (`#[utoipa::path]`),
//! collected by utoipa-actix-web as the handlers are registered. The shapes the handlers write
//! by hand (a row of `/logs`, a group of `/stats`, an error) are described here; the others
//! derive their schema where they are defined.
#![allow(dead_code)] // The parameter structs exist to be described, never built.

use utoipa::openapi::schema::{
    AnyOfBuilder, ArrayBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

use super::params::MAX_FILTER_VALUES;

/// A filter's values: each non-empty, at most [`MAX_FILTER_VALUES`].
fn values() -> Schema {
    let item = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1));
    Schema::Array(
        ArrayBuilder::new()
            .items(item)
            .max_items(Some(MAX_FILTER_VALUES))
            .build(),
    )
}

/// An RFC 3339 instant or a day.
fn instant() -> Schema {
    let of = |format| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(format)))
    };
    Schema::AnyOf(
        AnyOfBuilder::new()
            .item(of(KnownFormat::DateTime))
            .item(of(KnownFormat::Date))
            .build(),
    )
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "loggerator",
        description = "HTTP access logs collected from loggerator sources, stored in SQLite: \
                       pages, counts, breakdowns, exports and a live tail. Errors are JSON \
                       objects `{\"error\": ..., \"parameter\": ...}` (`parameter` for 400s).",
        license(name = "MIT", identifier = "MIT"),
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "logs", description = "Stored lines: pages, counts, exports, live tail, breakdowns"),
        (name = "service", description = "Sources, rejected lines, health"),
    )
)]
pub struct ApiDoc;

/// The bearer scheme of `--tokens-file`: with tokens configured, every operation but
/// `/healthz` needs one (401 without, 403 without the scope); without, none does.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "A token from `loggerator token new`, when the service has `--tokens-file`",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
        // Either no token (a service without tokens) or a bearer token.
        openapi.security = Some(vec![
            SecurityRequirement::default(),
            SecurityRequirement::new("bearer", Vec::<String>::new()),
        ]);
    }
}

/// The filters every query of lines takes: values of one parameter ORed, parameters ANDed.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FilterParams {
    /// Status codes or classes: `500`, `5xx`; comma-separated or repeated (`code=500,503`).
    #[param(schema_with = values, style = Form, explode)]
    code: Option<String>,
    /// HTTP methods, any case; comma-separated or repeated.
    #[param(schema_with = values, style = Form, explode)]
    method: Option<String>,
    /// Users (`-` for lines without one); repeated for several.
    #[param(schema_with = values, style = Form, explode)]
    user: Option<String>,
    /// Sources by id (as in `/sources`) or address; comma-separated or repeated.
    #[param(schema_with = values, style = Form, explode)]
    source: Option<String>,
    /// Client addresses or CIDR networks (`10.0.0.0/8`, `2001:db8::/32`).
    #[param(schema_with = values, style = Form, explode)]
    ip: Option<String>,
    /// Prefixes of the URL's path (`/photos/`); repeated for several.
    #[param(schema_with = values, style = Form, explode)]
    path: Option<String>,
    /// Substrings of the line, case-sensitive; repeated for several.
    #[param(schema_with = values, style = Form, explode)]
    q: Option<String>,
    /// Inclusive: an RFC 3339 instant (`2000-07-12T05:11:41Z`) or a day (`2000-07-12`).
    #[param(schema_with = instant)]
    since: Option<String>,
    /// Exclusive: an RFC 3339 instant or a day; later than `since`.
    #[param(schema_with = instant)]
    until: Option<String>,
}

/// Paging and formats of `GET /logs`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Rows per page, 1 to 10,000 (default 100); for an export, the most rows in all.
    #[param(minimum = 1)]
    limit: Option<i64>,
    /// The `cursor` of the `Link: <...>; rel="next"` header of the previous page.
    cursor: Option<String>,
    /// `json` (default) or `lines` for a page; `ndjson`, `csv` or `text` to stream every match.
    #[param(value_type = Option<String>, pattern = "^(json|lines|ndjson|csv|text)$")]
    format: Option<String>,
    /// `desc` (newest first, the default) or `asc`.
    #[param(value_type = Option<String>, pattern = "^(desc|asc)$")]
    order: Option<String>,
    /// `format=csv` only: `neutralize` (default) prefixes `'` to text cells that start with
    /// `=`, `+`, `-`, `@`, tab or CR, so a spreadsheet shows them rather than runs them; `keep`
    /// writes them as stored.
    #[param(value_type = Option<String>, pattern = "^(neutralize|keep)$")]
    formulas: Option<String>,
}

/// `GET /stats`: what to group by, and how many groups.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsParams {
    /// One key, or two comma-separated (`hour,class`), of: code, class, method, user, source,
    /// ip, path, referer, user_agent, day, hour.
    #[param(
        pattern = "^(code|class|method|user|source|ip|path|referer|user_agent|day|hour)(,(code|class|method|user|source|ip|path|referer|user_agent|day|hour))?$"
    )]
    by: String,
    /// Groups returned at most, 1 to 100,000 (default 10,000).
    #[param(minimum = 1, maximum = 100000)]
    limit: Option<i64>,
}

/// `POST /ingest`: where the lines go.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PushQuery {
    /// The name to store the lines under, `push:NAME` (default: the token's name, or `push`).
    #[param(pattern = "^[A-Za-z0-9._-]{1,100}$")]
    source: Option<String>,
}

/// `POST /ingest`: the body's key.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct PushHeaders {
    /// Names the body (visible ASCII): sent again under the same source, the lines it
    /// consumed before are skipped.
    #[param(rename = "Idempotency-Key", pattern = "^[!-~]{1,255}$")]
    idempotency_key: Option<String>,
}

/// `GET /logs/stream`: where a reconnecting client resumes.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TailParams {
    /// For clients that cannot send the `Last-Event-ID` header: the id of the last event seen.
    #[param(minimum = 0)]
    last_event_id: Option<i64>,
    /// The token, for clients that cannot send `Authorization` (browsers' `EventSource`).
    access_token: Option<String>,
}

/// `GET /rejected`: paging.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RejectedParams {
    /// Rows per page, 1 to 10,000 (default 100).
    #[param(minimum = 1)]
    limit: Option<i64>,
    /// The `cursor` of the previous page's next link.
    cursor: Option<String>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SourcesParams {
    /// Sources per page, 1 to 10,000 (default 1,000).
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<i64>,
    /// The `cursor` of the previous page's next link.
    cursor: Option<String>,
}

/// One stored line with its fields, as `/logs`, exports and live tail show it.
#[derive(ToSchema)]
pub struct LogEntry {
    /// The row id: the order of arrival.
    id: i64,
    /// The source's address.
    source: String,
    ip: String,
    /// `null` for `-`.
    user: Option<String>,
    /// RFC 3339, UTC.
    #[schema(format = DateTime)]
    date: String,
    /// Upper-cased.
    method: String,
    url: String,
    protocol: String,
    code: i32,
    /// `null` for `-`.
    size: Option<i64>,
    /// `null` for `-`, or when the line has none (Common Log Format).
    referer: Option<String>,
    /// `null` for `-`, or when the line has none (Common Log Format).
    user_agent: Option<String>,
    /// The line as received.
    line: String,
}

/// An item of a page: a row (`format=json`) or the original line (`format=lines`).
#[derive(ToSchema)]
#[serde(untagged)]
pub enum PageItem {
    Row(Box<LogEntry>),
    Line(String),
}

/// One group of `/stats`.
#[derive(ToSchema)]
pub struct StatGroup {
    /// The key's value (a number for `code`, text for the others, `null` for a field the
    /// lines lack), or an array of two for two keys.
    key: serde_json::Value,
    /// Lines in the group.
    count: i64,
    /// The sum of their sizes (`-` counts as 0).
    bytes: i64,
}

#[derive(ToSchema)]
pub struct CountBody {
    count: i64,
}

/// Every error's body.
#[derive(ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for a program: stable across releases (docs/api.md, "Reason codes").
    code: crate::reason::Reason,
    /// What went wrong, for a person to read.
    error: String,
    /// The parameter at fault (400 only).
    parameter: Option<String>,
}

#[derive(ToSchema)]
pub struct HealthBody {
    /// `ok` or `unhealthy`.
    status: String,
    /// Why storage is unhealthy, as a code; with `ok`, `block_corrupt` when some compacted
    /// blocks fail their checksum (writes still succeed).
    code: Option<crate::reason::Reason>,
    /// What the code means.
    reason: Option<String>,
    /// Since when, RFC 3339.
    since: Option<String>,
    /// The blocks found corrupt since the start (with `block_corrupt`).
    corrupt_blocks: Option<Vec<i64>>,
}

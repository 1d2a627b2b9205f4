//! The OpenAPI document: its header here, each operation on its handler (`#[utoipa::path]`),
//! collected by utoipa-actix-web as the handlers are registered. The shapes the handlers write
//! by hand (a row of `/logs`, a group of `/stats`, an error) are described here; the others
//! derive their schema where they are defined.
#![allow(dead_code)] // The schema structs exist to be described, never built.

use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn, ParameterStyle};
use utoipa::openapi::schema::{
    AnyOfBuilder, ArrayBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::Required;
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

use super::params::declared::{self, Param, Shape};
use super::params::MAX_FILTER_VALUES;
use crate::db::read::stats_query::StatKey;

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

/// An endpoint's query parameters for `#[utoipa::path(params(...))]`, described from the
/// tables its parser reads (`params/declared.rs`).
macro_rules! described {
    ($($name:ident = $query:path;)*) => {$(
        pub struct $name;

        impl IntoParams for $name {
            fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
                $query.params().map(parameter).collect()
            }
        }
    )*};
}

described! {
    LogsParameters = declared::LIST;
    CountParameters = declared::COUNT;
    StatsParameters = declared::STATS;
    TailParameters = declared::TAIL;
    PushParameters = declared::PUSH;
    RejectedParameters = declared::REJECTED;
    SourcesParameters = declared::SOURCES;
}

/// A declared parameter as the OpenAPI document gives it.
fn parameter(param: &Param) -> Parameter {
    let required = if param.required {
        Required::True
    } else {
        Required::False
    };
    let builder = ParameterBuilder::new()
        .name(param.name)
        .parameter_in(ParameterIn::Query)
        .required(required)
        .description(Some(param.doc))
        .schema(Some(schema(param.shape)));
    match param.shape {
        Shape::Values => builder
            .style(Some(ParameterStyle::Form))
            .explode(Some(true)),
        _ => builder,
    }
    .build()
}

fn schema(shape: Shape) -> Schema {
    let text = || ObjectBuilder::new().schema_type(Type::String);
    match shape {
        Shape::Values => values(),
        Shape::Instant => instant(),
        Shape::Integer { min, max } => ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(min as f64))
            .maximum(max.map(|max| max as f64))
            .into(),
        Shape::OneOf(words) => text().enum_values(Some(words.iter().copied())).into(),
        Shape::Text { pattern } => text().pattern(pattern).into(),
        Shape::Keys => {
            let one = format!("({})", StatKey::NAMES.join("|"));
            text().pattern(Some(format!("^{one}(,{one})?$"))).into()
        }
        Shape::Interval => text().pattern(Some("^[1-9][0-9]{0,5}[mhd]$")).into(),
    }
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

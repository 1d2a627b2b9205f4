//! `GET /stats`: lines and bytes grouped by one key or two.

use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use super::error::{ApiError, Scan};
use super::openapi::{ErrorBody, StatGroup, StatsParameters};
use super::params::stats_params;
use super::AppState;
use crate::db::read::reader::QueryStats;
use crate::db::read::stats_query::{StatKey, StatRow, StatValue, StatsQuery};
use crate::db::DbError;
use crate::limits::{MAX_COUNT_SCAN, MAX_STATS_KEY_SCAN};

/// `{"key": ..., "count": N, "bytes": B}`; the key is a value for one key, an array for two.
struct StatView<'a>(&'a StatRow);

struct ValueView<'a>(&'a StatValue);

impl Serialize for ValueView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            StatValue::Null => serializer.serialize_none(),
            StatValue::Int(n) => serializer.serialize_i64(*n),
            StatValue::Text(text) => serializer.serialize_str(text),
        }
    }
}

impl Serialize for StatView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let row = self.0;
        let mut object = serializer.serialize_struct("StatView", 3)?;
        match row.key.as_slice() {
            [one] => object.serialize_field("key", &ValueView(one))?,
            many => {
                let values: Vec<ValueView> = many.iter().map(ValueView).collect();
                object.serialize_field("key", &values)?;
            }
        }
        object.serialize_field("count", &row.count)?;
        object.serialize_field("bytes", &row.bytes)?;
        object.end()
    }
}

/// Lines and bytes grouped by one key or two
///
/// Sorted by count, largest first, or by time when a key is `day`, `hour` or `time`.
#[utoipa::path(
    tag = "logs",
    params(StatsParameters),
    responses(
        (status = 200, description = "The groups", body = Vec<StatGroup>),
        (status = 400, description = "A parameter is wrong; `parameter` names it", body = ErrorBody),
        (status = 503, description = "Too many queries at once, or a query timed out; retry after `Retry-After`", body = ErrorBody),
        (status = 500, description = "Internal error (details are logged, not sent)", body = ErrorBody),
    ),
)]
#[get("")] // /stats: see `super::routes`
pub async fn stats(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let params = stats_params(req.query_string())?;
    // The filter that made it read lines, if one did: the refusal names it.
    let line_filter = [("path", &params.filter.paths), ("q", &params.filter.texts)]
        .into_iter()
        .find_map(|(name, values)| (!values.is_empty()).then_some(name));
    let on_lines = line_filter.is_some() || params.by.iter().any(|k| k.on_lines());
    // Time buckets too fine for the count tables, when no address made it read keys anyway:
    // a longer interval would be answered from them.
    let by_time = params.by.iter().any(|k| matches!(k, StatKey::Time(_)));
    let by_address = !params.filter.ips.is_empty() || params.by.contains(&StatKey::Ip);
    let keyed = if by_time && !by_address {
        "interval"
    } else {
        "by"
    };
    let asked = QueryStats(StatsQuery {
        filter: params.filter,
        by: params.by,
        limit: params.limit,
        max_keys: MAX_STATS_KEY_SCAN,
        max_lines: MAX_COUNT_SCAN,
    });
    let rows = match state.readers.ask(asked).await {
        Err(ApiError::Internal(DbError::TooBroad(limit))) => {
            return Err(ApiError::TooBroad {
                parameter: line_filter.unwrap_or(if on_lines { "by" } else { keyed }),
                scan: if on_lines {
                    Scan::StatsLines
                } else {
                    Scan::StatsKeys
                },
                limit,
            });
        }
        other => other?,
    };
    let views: Vec<StatView> = rows.iter().map(StatView).collect();
    Ok(HttpResponse::Ok().json(views))
}

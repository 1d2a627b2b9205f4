//! The one filter of a query in storage terms, built once from the typed query
//! ([`LogFilter`], names as the API gives them): it becomes a WHERE clause over keys (the count tables' and hot keys' sums
//! and groups in `count_tables.rs`, the key merge's arms in `segment_merge.rs`), a predicate
//! over a block's decoded keys
//! ([`Filter::matches_keys`]), over a committed line's key ([`Filter::matches_fields`], the live
//! tail's) and over a parsed line ([`Filter::matches_line`]), and picks the count table that
//! answers it ([`CountTable::for_query`](super::count_tables::CountTable::for_query)).

use diesel::prelude::*;
use ipnet::IpNet;

use crate::db::blocks::format::BlockKeys;
use crate::db::ip_key::network_range;
use crate::db::names::{self, NameTable};
use crate::db::schema::sources;

/// Filters: the values of one key ORed, the keys ANDed; an empty list does not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// Inclusive ranges of status codes: a code is a range of one, `5xx` is 500 to 599.
    pub codes: Vec<(i32, i32)>,
    /// Upper-cased, as they are stored.
    pub methods: Vec<String>,
    /// `-` stands for lines without a user.
    pub users: Vec<String>,
    /// Sources, each by its id (as in `/sources`) or its address.
    pub sources: Vec<String>,
    /// Client addresses or networks (`10.0.0.0/8`, `2001:db8::/32`; an address is a /32 or /128).
    pub ips: Vec<IpNet>,
    /// Prefixes of the URL's path (`/photos/`), the query string left out.
    pub paths: Vec<String>,
    /// Substrings of the line, case-sensitive (Loki's `|=`).
    pub texts: Vec<String>,
    /// Inclusive lower bound, seconds since the epoch.
    pub since: Option<i64>,
    /// Exclusive upper bound, seconds since the epoch.
    pub until: Option<i64>,
}

impl LogFilter {
    /// Whether rows pass only if their line says so (`path`, `q`), as [`Filter::reads_lines`]
    /// says once the filter is resolved.
    pub(crate) fn reads_lines(&self) -> bool {
        !(self.paths.is_empty() && self.texts.is_empty())
    }
}

/// A key whose index (`log_keys_by_user`, `log_keys_by_source`: the key's rows of a segment in
/// date order) a page may read, one merge arm per (segment, value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexedKey {
    User,
    Source,
}

impl IndexedKey {
    pub(crate) fn index(self) -> &'static str {
        match self {
            IndexedKey::User => "log_keys_by_user",
            IndexedKey::Source => "log_keys_by_source",
        }
    }

    pub(crate) fn column(self) -> &'static str {
        match self {
            IndexedKey::User => "user_id",
            IndexedKey::Source => "source_id",
        }
    }

    pub(crate) fn values(self, filter: &Filter) -> &[i64] {
        match self {
            IndexedKey::User => &filter.user_ids,
            IndexedKey::Source => &filter.source_ids,
        }
    }
}

/// A filter in storage terms: names already turned into ids. An empty list does not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Inclusive ranges of status codes (a code is a range of one, a class of a hundred).
    pub codes: Vec<(i32, i32)>,
    pub method_ids: Vec<i64>,
    pub user_ids: Vec<i64>,
    pub source_ids: Vec<i64>,
    /// Inclusive ranges of `log_keys.ip` (see `ip_key.rs`); only `log_keys` has addresses.
    pub ip_ranges: Vec<(Vec<u8>, Vec<u8>)>,
    /// Inclusive.
    pub since: Option<i64>,
    /// Exclusive.
    pub until: Option<i64>,
    /// Read keys through this key's index, one merge arm per (segment, value), instead of the
    /// primary key with the values as a filter. Set by the caller when the values hold few of
    /// the rows: the primary key would then pass over many rows for each one that matches
    /// (`docs/performance.md`, "Constants").
    pub indexed: Option<IndexedKey>,
    /// Substrings of the line (any of them) and prefixes of the path (any of them) that rows
    /// are then filtered by: blocks whose trigram filter rules them out are not read. The hot
    /// keys do not use them.
    pub texts: Vec<String>,
    pub paths: Vec<String>,
}

impl Filter {
    /// The filter in storage terms, or `None` when every user, method or source it names was
    /// never stored, so that nothing can match. Names never stored drop out of their list.
    pub fn resolve(conn: &mut SqliteConnection, filter: &LogFilter) -> QueryResult<Option<Filter>> {
        let Some(method_ids) = ids_of(conn, NameTable::Methods, &filter.methods)? else {
            return Ok(None);
        };
        let Some(user_ids) = ids_of(conn, NameTable::Users, &filter.users)? else {
            return Ok(None);
        };
        let Some(source_ids) = source_ids(conn, &filter.sources)? else {
            return Ok(None);
        };
        Ok(Some(Filter {
            method_ids,
            user_ids,
            ..Filter::unresolved(filter, source_ids)
        }))
    }

    /// The filter without methods and users, which stay names, for lines whose keys hold
    /// them as names (a live tail's: a user may be stored for the first time after it starts).
    pub fn unresolved(filter: &LogFilter, source_ids: Vec<i64>) -> Filter {
        Filter {
            codes: filter.codes.clone(),
            method_ids: Vec::new(),
            user_ids: Vec::new(),
            source_ids,
            ip_ranges: filter.ips.iter().map(network_range).collect(),
            since: filter.since,
            until: filter.until,
            indexed: None,
            texts: filter.texts.clone(),
            paths: filter.paths.clone(),
        }
    }

    /// Whether rows pass only if their line says so (`path`, `q`): each must then be read.
    pub fn reads_lines(&self) -> bool {
        !(self.paths.is_empty() && self.texts.is_empty())
    }

    /// The checks every form of a key answers alike: dates, codes, sources and addresses (an
    /// address as its key, `None` when the field is not one).
    pub fn matches_fields(&self, date: i64, code: i32, source_id: i64, ip: Option<&[u8]>) -> bool {
        self.since.is_none_or(|since| date >= since)
            && self.until.is_none_or(|until| date < until)
            && (self.codes.is_empty()
                || self
                    .codes
                    .iter()
                    .any(|&(low, high)| (low..=high).contains(&code)))
            && (self.source_ids.is_empty() || self.source_ids.contains(&source_id))
            && (self.ip_ranges.is_empty()
                || ip.is_some_and(|ip| {
                    self.ip_ranges
                        .iter()
                        .any(|(low, high)| low.as_slice() <= ip && ip <= high.as_slice())
                }))
    }

    /// Whether row `i` of a block matches the filter's keys and dates.
    pub fn matches_keys(&self, k: &BlockKeys, i: usize) -> bool {
        let any = |ids: &[i64], id: i64| ids.is_empty() || ids.contains(&id);
        self.matches_fields(k.date[i], k.code[i], k.source_id[i], k.ip(i))
            && any(&self.method_ids, k.method_id[i])
            && any(&self.user_ids, k.user_id[i])
    }

    /// The checks only the line answers: path prefixes (of its URL) and substrings.
    pub fn matches_line(&self, url: &str, line: &str) -> bool {
        let path = url.split('?').next().unwrap_or_default();
        (self.texts.is_empty() || self.texts.iter().any(|text| line.contains(text.as_str())))
            && (self.paths.is_empty()
                || self
                    .paths
                    .iter()
                    .any(|prefix| path.starts_with(prefix.as_str())))
    }
}

/// The ids of the sources named by id or address; `None` when sources were named and none
/// exists.
fn source_ids(conn: &mut SqliteConnection, named: &[String]) -> QueryResult<Option<Vec<i64>>> {
    if named.is_empty() {
        return Ok(Some(Vec::new()));
    }
    let known: Vec<(i64, String)> = sources::table
        .select((sources::id, sources::address))
        .load(conn)?;
    let ids: Vec<i64> = known
        .into_iter()
        .filter(|(id, address)| {
            named
                .iter()
                .any(|s| s == address || s.parse::<i64>() == Ok(*id))
        })
        .map(|(id, _)| id)
        .collect();
    Ok((!ids.is_empty()).then_some(ids))
}

/// The ids of the names that were stored; `None` when names were given and none was.
fn ids_of(
    conn: &mut SqliteConnection,
    table: NameTable,
    names: &[String],
) -> QueryResult<Option<Vec<i64>>> {
    let mut ids = Vec::with_capacity(names.len());
    for name in names {
        let id = match (table, name.as_str()) {
            // Logs write `-` for "no user", which is stored as user 0.
            (NameTable::Users, "-") => Some(0),
            _ => names::lookup(conn, table, name)?,
        };
        ids.extend(id);
    }
    ids.sort_unstable();
    ids.dedup();
    Ok((names.is_empty() || !ids.is_empty()).then_some(ids))
}

//! Rows from both forms at once: the hot segments' keys (`segment_merge`) and the blocks
//! (`blocks::read`), merged in (date, id) order. A segment is in exactly one form at any
//! commit, and a query reads both in one read transaction, so no row is seen twice or missed
//! while compaction moves segments.

use std::borrow::Cow;
use std::collections::HashMap;

use diesel::SqliteConnection;

use crate::db::blocks::cache::BlockCache;
use crate::db::blocks::read::{self, ColdRow};
use diesel::prelude::*;

use super::filter::Filter;
use super::segment_merge::{self, Key, Order};
use crate::db::schema::log_lines;
use crate::db::DbError;

/// A row a key read found: its line is in the hot table, or in a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Hot(Key),
    Cold(ColdRow),
}

impl Found {
    pub fn key(&self) -> Key {
        match self {
            Found::Hot(key) => *key,
            Found::Cold(row) => row.key,
        }
    }
}

/// The first `limit` rows matching the filter in `order`, strictly after `after`, from the
/// given hot segments and every block.
pub fn first_found(
    conn: &mut SqliteConnection,
    cache: &BlockCache,
    segments: &[i64],
    filter: &Filter,
    after: Option<Key>,
    order: Order,
    limit: i64,
) -> Result<Vec<Found>, DbError> {
    let hot = segment_merge::first_keys(conn, segments, filter, after, order, limit)?;
    let cold = read::first_rows(conn, cache, filter, after, order, limit)?;
    let mut merged = Vec::with_capacity(hot.len() + cold.len());
    let (mut hot, mut cold) = (hot.into_iter().peekable(), cold.into_iter().peekable());
    while merged.len() < usize::try_from(limit).unwrap_or(0) {
        let take_hot = match (hot.peek(), cold.peek()) {
            (Some(h), Some(c)) => match order {
                Order::Desc => *h > c.key,
                Order::Asc => *h < c.key,
            },
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        merged.extend(if take_hot {
            hot.next().map(Found::Hot)
        } else {
            cold.next().map(Found::Cold)
        });
    }
    Ok(merged)
}

/// Hands each row's source id and line to `visit`, in the rows' order, until it returns
/// false: a line in a block is lent from its frame, not copied into a string of its own, and a
/// hot one is handed over as it was read.
pub fn each_line(
    conn: &mut SqliteConnection,
    cache: &BlockCache,
    found: &[Found],
    mut visit: impl FnMut(&Found, i64, Cow<'_, str>) -> bool,
) -> Result<(), DbError> {
    let hot: Vec<Key> = found
        .iter()
        .filter_map(|f| match f {
            Found::Hot(key) => Some(*key),
            Found::Cold(_) => None,
        })
        .collect();
    let mut stored: HashMap<i64, (i64, String)> = lines_of_keys(conn, &hot)?
        .into_iter()
        .map(|(id, source, line)| (id, (source, line)))
        .collect();
    let mut frames = read::Frames::default();
    for f in found {
        let go_on = match f {
            Found::Hot(key) => {
                let (source, line) = stored.remove(&key.id).ok_or(DbError::MissingLine(key.id))?;
                visit(f, source, Cow::Owned(line))
            }
            Found::Cold(row) => visit(
                f,
                row.source_id,
                Cow::Borrowed(frames.of(conn, cache, row)?.get(row.index)),
            ),
        };
        if !go_on {
            break;
        }
    }
    Ok(())
}

/// (id, source id, line) of each row, in the same order.
pub fn lines_of(
    conn: &mut SqliteConnection,
    cache: &BlockCache,
    found: &[Found],
) -> Result<Vec<(i64, i64, String)>, DbError> {
    let mut lines = Vec::with_capacity(found.len());
    each_line(conn, cache, found, |f, source, line| {
        lines.push((f.key().id, source, line.into_owned()));
        true
    })?;
    Ok(lines)
}

/// Rows matching the filter in the given hot segments and in the blocks.
pub fn count(
    conn: &mut SqliteConnection,
    cache: &BlockCache,
    segments: &[i64],
    filter: &Filter,
) -> Result<i64, DbError> {
    Ok(segment_merge::count_keys(conn, segments, filter)? + read::count(conn, cache, filter)?)
}

/// The hot table's lines of `keys`, as (id, source id, line), in no particular order.
fn lines_of_keys(
    conn: &mut SqliteConnection,
    keys: &[Key],
) -> QueryResult<Vec<(i64, i64, String)>> {
    let ids: Vec<i64> = keys.iter().map(|k| k.id).collect();
    log_lines::table
        .filter(log_lines::id.eq_any(&ids))
        .select((log_lines::id, log_lines::source_id, log_lines::line))
        .load(conn)
}

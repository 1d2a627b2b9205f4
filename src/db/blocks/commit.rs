//! The writer's share of compaction, each step one short transaction: a built part goes in
//! and its segment out of the readers' sight at once, then the segment's hot rows are deleted
//! a chunk at a time, like retention's, so that no batch waits long behind compaction.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::build::{BuiltBlock, BuiltPart, PartTotals};
use super::part::{PartInfo, BUILDING, LIVE, REPLACED};
use crate::db::schema::{
    block_data, block_grams, blocks, hot_segments, log_keys, log_lines, parts, retired_segments,
};
use crate::db::DbError;

/// What became of a built part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// Its blocks are what readers see of the segment now.
    Part { id: i64, blocks: usize },
    /// The segment changed while it was read (retention deleted some of it): built again later.
    Stale,
    /// The segment held no rows any more: it is gone.
    Empty,
}

/// Adds the part and retires its segment, if the segment still holds what was read.
pub fn add_part(conn: &mut SqliteConnection, part: &BuiltPart) -> Result<Added, DbError> {
    conn.immediate_transaction(|conn| {
        let rows: Option<i64> = hot_segments::table
            .find(part.segment)
            .select(hot_segments::rows)
            .first(conn)
            .optional()?;
        if rows != Some(part.totals.rows) {
            return Ok(Added::Stale);
        }
        if part.totals.rows == 0 {
            // Retention emptied it: nothing to move.
            diesel::delete(hot_segments::table.find(part.segment)).execute(conn)?;
            return Ok(Added::Empty);
        }
        let id: i64 = diesel::insert_into(parts::table)
            .values((
                parts::state.eq(LIVE),
                parts::rows.eq(part.totals.rows),
                parts::min_id.eq(part.totals.min_id),
                parts::max_id.eq(part.totals.max_id),
                parts::received_from.eq(part.received_from),
                parts::received_until.eq(part.received_until),
                parts::raw_bytes.eq(part.totals.raw_bytes),
                parts::stored_bytes.eq(part.totals.stored_bytes),
            ))
            .returning(parts::id)
            .get_result(conn)?;
        insert_blocks(conn, id, &part.blocks)?;
        diesel::delete(hot_segments::table.find(part.segment)).execute(conn)?;
        diesel::insert_into(retired_segments::table)
            .values((
                retired_segments::id.eq(part.segment),
                retired_segments::min_id.eq(part.totals.min_id),
                retired_segments::max_id.eq(part.totals.max_id),
            ))
            .execute(conn)?;
        diesel::sql_query("UPDATE store_state SET compacted_through = max(compacted_through, ?1)")
            .bind::<BigInt, _>(part.totals.max_id)
            .execute(conn)?;
        Ok(Added::Part {
            id,
            blocks: part.blocks.len(),
        })
    })
}

/// Deletes up to `chunk` hot rows of the oldest retired segment (its keys and its lines), and
/// the segment's record once none is left. Returns how many rows went.
pub fn clear_retired(conn: &mut SqliteConnection, chunk: i64) -> Result<u64, DbError> {
    conn.immediate_transaction(|conn| {
        let Some((segment, min_id, max_id)) = retired_segments::table
            .select((
                retired_segments::id,
                retired_segments::min_id,
                retired_segments::max_id,
            ))
            .order(retired_segments::id)
            .first::<(i64, i64, i64)>(conn)
            .optional()?
        else {
            return Ok(0);
        };
        // Each table a range of its own key: lines by id (the segment's are consecutive), keys
        // up to the chunk's last in (date, id) order.
        let chunk = chunk.max(1);
        let through = max_id.min(min_id.saturating_add(chunk - 1));
        let lines = diesel::delete(log_lines::table.filter(log_lines::id.between(min_id, through)))
            .execute(conn)? as u64;
        let last: Option<(i64, i64)> = log_keys::table
            .filter(log_keys::segment.eq(segment))
            .order((log_keys::date, log_keys::id))
            .select((log_keys::date, log_keys::id))
            .offset(chunk - 1)
            .first(conn)
            .optional()?;
        let keys = match last {
            Some((date, id)) => diesel::sql_query(
                "DELETE FROM log_keys WHERE segment = ?1 AND (date, id) <= (?2, ?3)",
            )
            .bind::<BigInt, _>(segment)
            .bind::<BigInt, _>(date)
            .bind::<BigInt, _>(id)
            .execute(conn)?,
            None => diesel::delete(log_keys::table.filter(log_keys::segment.eq(segment)))
                .execute(conn)?,
        } as u64;
        if through >= max_id && last.is_none() {
            diesel::delete(retired_segments::table.find(segment)).execute(conn)?;
        } else {
            diesel::update(retired_segments::table.find(segment))
                .set(retired_segments::min_id.eq((through + 1).min(max_id)))
                .execute(conn)?;
        }
        Ok(lines.max(keys).max(1))
    })
}

fn insert_blocks(conn: &mut SqliteConnection, part: i64, built: &[BuiltBlock]) -> QueryResult<()> {
    // A dictionary trained for these blocks goes in with them; one read from `line_dicts` is
    // there already, and storing it again would cost the transaction a 32 KiB read.
    let mut dicts: Vec<i64> = Vec::new();
    for dict in built
        .iter()
        .filter_map(|b| b.dict.as_ref())
        .filter(|d| !d.stored)
    {
        if !dicts.contains(&dict.id) {
            super::dict::store(conn, dict)?;
            dicts.push(dict.id);
        }
    }
    for block in built {
        let block_id: i64 = diesel::insert_into(blocks::table)
            .values((
                blocks::part.eq(part),
                blocks::rows.eq(block.rows),
                blocks::min_date.eq(block.min.date),
                blocks::min_id.eq(block.min.id),
                blocks::max_date.eq(block.max.date),
                blocks::max_id.eq(block.max.id),
                blocks::low_id.eq(block.low_id),
                blocks::high_id.eq(block.high_id),
                blocks::synopsis.eq(&block.synopsis),
            ))
            .returning(blocks::id)
            .get_result(conn)?;
        diesel::insert_into(block_data::table)
            .values((
                block_data::block.eq(block_id),
                block_data::keys.eq(&block.keys),
                block_data::lines.eq(&block.lines),
            ))
            .execute(conn)?;
        diesel::insert_into(block_grams::table)
            .values((
                block_grams::block.eq(block_id),
                block_grams::grams.eq(&block.grams),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// A part for a merge of `inputs` to write into; nobody reads it until [`finish_merge`].
pub fn start_part(conn: &mut SqliteConnection, inputs: &[PartInfo]) -> Result<i64, DbError> {
    let received_from = inputs.iter().map(|p| p.received_from).min().unwrap_or(0);
    let received_until = inputs.iter().map(|p| p.received_until).max().unwrap_or(0);
    Ok(diesel::insert_into(parts::table)
        .values((
            parts::state.eq(BUILDING),
            parts::rows.eq(0),
            parts::min_id.eq(0),
            parts::max_id.eq(0),
            parts::received_from.eq(received_from),
            parts::received_until.eq(received_until),
            parts::raw_bytes.eq(0),
            parts::stored_bytes.eq(0),
        ))
        .returning(parts::id)
        .get_result(conn)?)
}

/// More blocks of a part being written.
pub fn add_blocks(
    conn: &mut SqliteConnection,
    part: i64,
    built: &[BuiltBlock],
) -> Result<(), DbError> {
    conn.immediate_transaction(|conn| insert_blocks(conn, part, built))?;
    Ok(())
}

/// What a finished merge wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergedPart {
    pub part: i64,
    pub totals: PartTotals,
}

/// The merged part replaces its inputs, if they are all live and unchanged (retention may
/// have deleted some of them meanwhile): then readers switch to it at once. Otherwise it is
/// dropped. Returns whether it replaced them.
pub fn finish_merge(
    conn: &mut SqliteConnection,
    merged: MergedPart,
    inputs: &[PartInfo],
) -> Result<bool, DbError> {
    conn.immediate_transaction(|conn| {
        let ids: Vec<i64> = inputs.iter().map(|p| p.id).collect();
        let now: Vec<(i64, i32, i64)> = parts::table
            .filter(parts::id.eq_any(&ids))
            .select((parts::id, parts::state, parts::rows))
            .load(conn)?;
        let unchanged = now.len() == inputs.len()
            && inputs.iter().all(|p| now.contains(&(p.id, LIVE, p.rows)))
            && inputs.iter().map(|p| p.rows).sum::<i64>() == merged.totals.rows;
        if !unchanged {
            diesel::update(parts::table.find(merged.part))
                .set(parts::state.eq(REPLACED))
                .execute(conn)?;
            return Ok(false);
        }
        diesel::update(parts::table.find(merged.part))
            .set((
                parts::state.eq(LIVE),
                parts::rows.eq(merged.totals.rows),
                parts::min_id.eq(merged.totals.min_id),
                parts::max_id.eq(merged.totals.max_id),
                parts::raw_bytes.eq(merged.totals.raw_bytes),
                parts::stored_bytes.eq(merged.totals.stored_bytes),
            ))
            .execute(conn)?;
        diesel::update(parts::table.filter(parts::id.eq_any(&ids)))
            .set(parts::state.eq(REPLACED))
            .execute(conn)?;
        Ok(true)
    })
}

/// A part a failed merge was writing: its blocks go like a replaced part's.
pub fn drop_part(conn: &mut SqliteConnection, part: i64) -> Result<(), DbError> {
    diesel::update(parts::table.find(part).filter(parts::state.eq(BUILDING)))
        .set(parts::state.eq(REPLACED))
        .execute(conn)?;
    Ok(())
}

/// Parts a merge was writing when the service stopped: nobody will finish them.
pub fn abandon_building(conn: &mut SqliteConnection) -> Result<usize, DbError> {
    Ok(
        diesel::update(parts::table.filter(parts::state.eq(BUILDING)))
            .set(parts::state.eq(REPLACED))
            .execute(conn)?,
    )
}

/// Deletes up to `chunk` blocks of replaced parts, and a part once it has none. Returns the
/// rows of the blocks deleted.
pub fn clear_replaced(conn: &mut SqliteConnection, chunk: i64) -> Result<u64, DbError> {
    conn.immediate_transaction(|conn| {
        let Some(part) = parts::table
            .filter(parts::state.eq(REPLACED))
            .order(parts::id)
            .select(parts::id)
            .first::<i64>(conn)
            .optional()?
        else {
            return Ok(0);
        };
        let taken: Vec<(i64, i64)> = blocks::table
            .filter(blocks::part.eq(part))
            .select((blocks::id, blocks::rows))
            .limit(chunk.max(1))
            .load(conn)?;
        let ids: Vec<i64> = taken.iter().map(|(id, _)| *id).collect();
        diesel::delete(block_data::table.filter(block_data::block.eq_any(&ids))).execute(conn)?;
        diesel::delete(block_grams::table.filter(block_grams::block.eq_any(&ids))).execute(conn)?;
        diesel::delete(blocks::table.filter(blocks::id.eq_any(&ids))).execute(conn)?;
        if (taken.len() as i64) < chunk.max(1) {
            diesel::delete(parts::table.find(part)).execute(conn)?;
        }
        // A part with no blocks still counts as work done.
        Ok(taken
            .iter()
            .map(|(_, rows)| *rows as u64)
            .sum::<u64>()
            .max(1))
    })
}

/// Moves up to `pages` free pages to the end of the file and truncates them off (a database
/// created with `auto_vacuum = INCREMENTAL`; for another this changes nothing). Returns the
/// free pages left, or 0 when the file cannot give them back.
pub fn reclaim_pages(conn: &mut SqliteConnection, pages: i64) -> Result<i64, DbError> {
    #[derive(QueryableByName)]
    struct Number {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let number = |conn: &mut SqliteConnection, sql: &str| -> Result<i64, DbError> {
        Ok(diesel::sql_query(sql).get_result::<Number>(conn)?.n)
    };
    // 0 none, 1 full, 2 incremental.
    if number(conn, "SELECT auto_vacuum AS n FROM pragma_auto_vacuum()")? != 2 {
        return Ok(0);
    }
    // `batch_execute` runs it to the end: the pragma returns a row per page it frees, and a
    // statement stepped once would free one.
    conn.batch_execute(&format!("PRAGMA incremental_vacuum({});", pages.max(1)))?;
    number(
        conn,
        "SELECT freelist_count AS n FROM pragma_freelist_count()",
    )
}

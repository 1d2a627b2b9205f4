//! The writer's share of compaction, each step one short transaction: a built part goes in
//! and its segment out of the readers' sight at once, then the segment's hot rows are deleted
//! a chunk at a time, like retention's, so that no batch waits long behind compaction.

use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::build::BuiltPart;
use crate::db::schema::{block_data, blocks, hot_segments, parts, retired_segments, store_state};
use crate::db::DbError;

/// What became of a built part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// Its blocks are what readers see of the segment now.
    Part { id: i64, blocks: usize },
    /// The segment changed while it was read (retention deleted some of it): built again later.
    Stale,
}

/// Adds the part and retires its segment, if the segment still holds what was read.
pub fn add_part(conn: &mut SqliteConnection, part: &BuiltPart) -> Result<Added, DbError> {
    conn.immediate_transaction(|conn| {
        let rows: Option<i64> = hot_segments::table
            .find(part.segment)
            .select(hot_segments::rows)
            .first(conn)
            .optional()?;
        if rows != Some(part.rows) {
            return Ok(Added::Stale);
        }
        let id: i64 = diesel::insert_into(parts::table)
            .values((
                parts::rows.eq(part.rows),
                parts::min_id.eq(part.min_id),
                parts::max_id.eq(part.max_id),
                parts::received_from.eq(part.received_from),
                parts::received_until.eq(part.received_until),
                parts::raw_bytes.eq(part.raw_bytes),
                parts::stored_bytes.eq(part.stored_bytes),
            ))
            .returning(parts::id)
            .get_result(conn)?;
        for block in &part.blocks {
            let block_id: i64 = diesel::insert_into(blocks::table)
                .values((
                    blocks::part.eq(id),
                    blocks::rows.eq(block.rows),
                    blocks::min_date.eq(block.min.date),
                    blocks::min_id.eq(block.min.id),
                    blocks::max_date.eq(block.max.date),
                    blocks::max_id.eq(block.max.id),
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
        }
        diesel::delete(hot_segments::table.find(part.segment)).execute(conn)?;
        diesel::insert_into(retired_segments::table)
            .values((
                retired_segments::id.eq(part.segment),
                retired_segments::min_id.eq(part.min_id),
                retired_segments::max_id.eq(part.max_id),
            ))
            .execute(conn)?;
        diesel::sql_query("UPDATE store_state SET compacted_through = max(compacted_through, ?1)")
            .bind::<BigInt, _>(part.max_id)
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
        // Lines by id, which is how they lie in their table; keys in their own order.
        let lines = diesel::sql_query(
            "DELETE FROM log_lines WHERE id IN \
             (SELECT id FROM log_lines WHERE id BETWEEN ?1 AND ?2 ORDER BY id LIMIT ?3)",
        )
        .bind::<BigInt, _>(min_id)
        .bind::<BigInt, _>(max_id)
        .bind::<BigInt, _>(chunk)
        .execute(conn)? as u64;
        let keys = diesel::sql_query(
            "DELETE FROM log_keys WHERE segment = ?1 AND (date, id) IN \
             (SELECT date, id FROM log_keys WHERE segment = ?1 ORDER BY date, id LIMIT ?2)",
        )
        .bind::<BigInt, _>(segment)
        .bind::<BigInt, _>(chunk)
        .execute(conn)? as u64;
        if lines < chunk as u64 && keys < chunk as u64 {
            diesel::delete(retired_segments::table.find(segment)).execute(conn)?;
        }
        Ok(lines.max(keys))
    })
}

/// Every id up to this one is in blocks, and none after it.
pub fn compacted_through(conn: &mut SqliteConnection) -> Result<i64, DbError> {
    Ok(store_state::table
        .select(store_state::compacted_through)
        .first(conn)?)
}

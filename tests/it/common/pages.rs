//! Pages read straight from the readers' query functions, without the HTTP layer: one page
//! without caps on bytes or lines read, and a whole listing walked page by page.

use diesel::SqliteConnection;
use loggerator::db::blocks::cache::BlockCache;
use loggerator::db::read::log_query::{self, Key, LogFilter, LogPage, LogQuery, Order};

/// A page's query without caps on bytes or lines read.
pub fn uncapped(filter: &LogFilter, order: Order, after: Option<Key>, limit: i64) -> LogQuery {
    LogQuery {
        filter: filter.clone(),
        order,
        after,
        limit,
        ..Default::default()
    }
    .uncapped()
}

/// One page, without caps on bytes or lines read.
pub fn page(
    conn: &mut SqliteConnection,
    cache: &BlockCache,
    filter: &LogFilter,
    order: Order,
    after: Option<Key>,
    limit: i64,
) -> LogPage {
    let query = uncapped(filter, order, after, limit);
    log_query::fetch_page(conn, cache, &mut Default::default(), &query).unwrap()
}

/// Every row's id of a listing, walked page by page (small pages make cursors cross blocks).
pub fn listing(
    conn: &mut SqliteConnection,
    cache: &BlockCache,
    filter: &LogFilter,
    order: Order,
    limit: i64,
) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut after: Option<Key> = None;
    loop {
        let page = page(conn, cache, filter, order, after, limit);
        ids.extend(page.rows.iter().map(|r| r.id));
        match page.next {
            Some(next) => after = Some(next),
            None => return ids,
        }
    }
}

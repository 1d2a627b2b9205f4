//! Live tail, storage's side: the writer publishes every committed batch, as it was sent, to a
//! broadcast channel that never blocks it (a follower that falls behind misses batches and is
//! told so), and readers serve the lines a follower missed, by id.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use diesel::connection::DefaultLoadingMode;
use diesel::prelude::*;
use tokio::sync::broadcast;

use super::filter::Filter;
use super::log_query::{LogFilter, LogRow};
use crate::batch::{Entry, LineKey};
use crate::db::blocks::cache::BlockCache;
use crate::db::blocks::read;
use crate::db::ip_key::IpKey;
use crate::db::schema::{log_lines, store_state};
use crate::db::source_names::SourceNames;
use crate::db::DbError;

/// A committed batch as followers see it: the entries as the source sent them and the ids the
/// stored ones got.
#[derive(Debug)]
pub struct Committed {
    pub source_id: i64,
    pub entries: Arc<Vec<Entry>>,
    /// The first stored entry's id; the others follow, one by one, in order.
    pub first_id: i64,
    /// Parsed entries the database refused (kept as rejected): they have no id.
    pub refused: Vec<usize>,
    /// When the batch was committed (just before it was published).
    pub committed_at: SystemTime,
    /// Each entry's event data, rendered by the first follower that sends it and shared by
    /// the others: a line that matches many followers is parsed and written out once.
    pub rendered: Vec<OnceLock<Arc<str>>>,
    /// The stored lines of each user (`-` for none), in id order, built by the first follower
    /// that filters on users: a follower of one user in 64 then visits one line in 64.
    by_user: OnceLock<HashMap<String, Vec<StoredIndex>>>,
    /// The last stored line's id; `None` if the batch stored none.
    pub last_id: Option<i64>,
}

/// A stored line's entry index and id.
#[derive(Debug, Clone, Copy)]
struct StoredIndex {
    index: usize,
    id: i64,
}

impl Committed {
    pub fn new(
        source_id: i64,
        entries: Arc<Vec<Entry>>,
        first_id: i64,
        refused: Vec<usize>,
    ) -> Self {
        let rendered = (0..entries.len()).map(|_| OnceLock::new()).collect();
        let stored = entries.iter().filter(|e| !e.is_rejected()).count() - refused.len();
        let last_id = (stored > 0).then(|| first_id + stored as i64 - 1);
        Self {
            last_id,
            source_id,
            entries,
            first_id,
            refused,
            committed_at: SystemTime::now(),
            rendered,
            by_user: OnceLock::new(),
        }
    }

    /// The stored lines a follower must look at: with a filter on users, only those users'
    /// lines; otherwise all of them. In id order either way.
    pub fn candidates<'a>(&'a self, filter: &TailFilter) -> Vec<StoredLine<'a>> {
        let users = &filter.users;
        if users.is_empty() {
            return self.stored().collect();
        }
        let index = self.by_user.get_or_init(|| {
            let mut index: HashMap<String, Vec<StoredIndex>> = HashMap::new();
            for stored in self.stored() {
                let user = stored.key.user(stored.line).unwrap_or("-");
                let at = StoredIndex {
                    index: stored.index,
                    id: stored.id,
                };
                match index.get_mut(user) {
                    Some(lines) => lines.push(at),
                    None => {
                        index.insert(user.to_owned(), vec![at]);
                    }
                }
            }
            index
        });
        let mut picked: Vec<StoredIndex> = users
            .iter()
            .filter_map(|user| index.get(user.as_str()))
            .flatten()
            .copied()
            .collect();
        if users.len() > 1 {
            picked.sort_unstable_by_key(|at| at.id);
            picked.dedup_by_key(|at| at.id);
        }
        picked
            .into_iter()
            .filter_map(|at| match &self.entries[at.index] {
                Entry::Parsed { line, key } => Some(StoredLine {
                    id: at.id,
                    index: at.index,
                    line: line.as_str(),
                    key,
                }),
                Entry::Rejected { .. } => None,
            })
            .collect()
    }

    /// Each stored line with its id and key, and its entry's index, in id order.
    pub fn stored(&self) -> impl Iterator<Item = StoredLine<'_>> + '_ {
        let mut id = self.first_id;
        self.entries
            .iter()
            .enumerate()
            .filter_map(move |(index, entry)| match entry {
                Entry::Parsed { line, key } if !self.refused.contains(&index) => {
                    id += 1;
                    Some(StoredLine {
                        id: id - 1,
                        index,
                        line: line.as_str(),
                        key,
                    })
                }
                _ => None,
            })
    }
}

/// A line of a committed batch.
#[derive(Debug, Clone, Copy)]
pub struct StoredLine<'a> {
    pub id: i64,
    /// Its entry's place in the batch (for [`Committed::rendered`]).
    pub index: usize,
    pub line: &'a str,
    pub key: &'a LineKey,
}

/// Where the writer publishes committed batches.
pub type TailSender = broadcast::Sender<Arc<Committed>>;

/// Batches a follower may fall behind before it misses some: at 50,000 lines a batch, more than
/// a second of full-speed ingest.
pub const TAIL_CHANNEL_BATCHES: usize = 64;

pub fn tail_channel() -> TailSender {
    broadcast::channel(TAIL_CHANNEL_BATCHES).0
}

/// A follower's filter: the key checks run on every committed line, cheaply (no parsing), and
/// only lines that pass them are parsed for the rest.
#[derive(Debug, Clone)]
pub struct TailFilter {
    /// Dates, codes, sources, addresses and text, checked as pages check them.
    filter: Filter,
    /// Methods and users stay names: a user may be stored for the first time after the
    /// follower started.
    methods: Vec<String>,
    users: Vec<String>,
    /// Sources were named and none of them exists: no line matches.
    no_source: bool,
}

impl TailFilter {
    /// `source_ids`: the sources the filter names, as ids.
    pub fn new(filter: LogFilter, source_ids: Vec<i64>) -> Self {
        Self {
            no_source: !filter.sources.is_empty() && source_ids.is_empty(),
            filter: Filter::unresolved(&filter, source_ids),
            methods: filter.methods,
            users: filter.users,
        }
    }

    /// Whether lines pass only if their text says so (`path`, `q`): they must then be parsed
    /// for every follower.
    pub fn needs_line(&self) -> bool {
        self.filter.reads_lines()
    }

    /// The checks a committed line's key answers: codes, methods, users, sources, addresses
    /// and dates.
    pub fn key_matches(&self, source_id: i64, line: &str, key: &LineKey) -> bool {
        self.names_match(key.method(line), key.user(line))
            && self.fields_match(source_id, key.date, key.code, key.ip)
    }

    /// Every check, on a row read back or parsed.
    pub fn row_matches(&self, row: &LogRow) -> bool {
        self.names_match(&row.method, row.user.as_deref())
            && self.fields_match(row.source_id, row.date, row.code, row.ip.parse().ok())
            && self.filter.matches_line(&row.url, &row.line)
    }

    fn names_match(&self, method: &str, user: Option<&str>) -> bool {
        (self.methods.is_empty() || self.methods.iter().any(|m| m == method))
            && (self.users.is_empty() || self.users.iter().any(|u| u == user.unwrap_or("-")))
    }

    fn fields_match(&self, source_id: i64, date: i64, code: i32, ip: Option<IpAddr>) -> bool {
        let ip = ip.map(IpKey::of);
        !self.no_source
            && self
                .filter
                .matches_fields(date, code, source_id, ip.as_ref().map(IpKey::as_bytes))
    }
}

/// Stored lines after `after_id`, in id order, up to `limit` of them and as many as hold
/// `max_bytes` (at least one), and the last id stored now. Lines are taken one at a time, so a
/// chunk of long lines cut short never loads the rest. Ids up to the last compacted one are in
/// blocks, the later ones in the hot table.
pub fn rows_after(
    conn: &mut SqliteConnection,
    cache: &BlockCache,
    sources: &mut SourceNames,
    after_id: i64,
    limit: i64,
    max_bytes: usize,
) -> Result<(Vec<LogRow>, i64), DbError> {
    conn.transaction(|conn| {
        let (last, compacted): (i64, i64) = store_state::table
            .select((store_state::last_line_id, store_state::compacted_through))
            .first(conn)?;
        let limit = usize::try_from(limit).unwrap_or(0);
        let mut lines: Vec<(i64, i64, String)> = Vec::new();
        let mut bytes = 0;
        if after_id < compacted {
            let rows = read::rows_after_id(conn, cache, after_id, limit)?;
            let refs: Vec<&read::ColdRow> = rows.iter().collect();
            for (row, line) in rows.iter().zip(read::lines_of(conn, cache, &refs)?) {
                if bytes >= max_bytes {
                    break;
                }
                bytes += line.len();
                lines.push((row.key.id, row.source_id, line));
            }
        }
        if lines.len() < limit && bytes < max_bytes {
            let stored = log_lines::table
                .filter(log_lines::id.gt(after_id.max(compacted)))
                .order(log_lines::id)
                .limit((limit - lines.len()) as i64)
                .select((log_lines::id, log_lines::source_id, log_lines::line))
                .load_iter::<(i64, i64, String), DefaultLoadingMode>(conn)?;
            for line in stored {
                if bytes >= max_bytes {
                    break;
                }
                let line = line?;
                bytes += line.2.len();
                lines.push(line);
            }
        }
        let mut rows = Vec::with_capacity(lines.len());
        for (id, source_id, line) in lines {
            let mut row = LogRow::parse(id, source_id, line)?;
            row.source = sources.address_of(conn, source_id)?;
            rows.push(row);
        }
        Ok((rows, last))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Entry;

    const LINES: [&str; 5] = [
        r#"10.1.2.3 - ann [16/Jul/2000:10:00:00 +0000] "GET /photos/1?size=big HTTP/1.1" 200 5 "-" "curl/8""#,
        r#"10.9.0.1 - - [16/Jul/2000:11:00:00 +0000] "post /posts/2 HTTP/1.1" 500 6"#,
        r#"2001:db8::7 - bob [17/Jul/2000:00:00:00 +0000] "PUT /photos/2 HTTP/1.1" 403 -"#,
        r#"192.168.0.9 - bob [15/Jul/2000:23:59:59 +0000] "GET /photos/3 HTTP/1.1" 503 8"#,
        r#"::ffff:10.1.2.3 - ann [16/Jul/2000:10:30:00 +0000] "GET /a HTTP/1.1" 200 1"#,
    ];

    /// Which of [`LINES`] a follower with `filter` is sent: those that pass the check on the
    /// committed key and then the one on the parsed row. The two agree on the key's fields.
    fn sent(filter: LogFilter) -> Vec<usize> {
        let tail = TailFilter::new(filter, vec![1]);
        let mut sent = Vec::new();
        for (i, text) in LINES.iter().enumerate() {
            let Entry::Parsed { line, key } = Entry::from_line(text) else {
                panic!("{text} parses");
            };
            let row = LogRow::parse(i as i64 + 1, 1, line.clone()).unwrap();
            let by_key = tail.key_matches(1, &line, &key);
            let by_row_fields = tail.names_match(&row.method, row.user.as_deref())
                && tail.fields_match(1, row.date, row.code, row.ip.parse().ok());
            assert_eq!(by_key, by_row_fields, "{text}");
            if by_key && tail.row_matches(&row) {
                sent.push(i);
            }
        }
        sent
    }

    #[test]
    fn a_follower_is_sent_the_lines_its_filter_selects() {
        let net = |text: &str| text.parse::<ipnet::IpNet>().unwrap();
        assert_eq!(sent(LogFilter::default()), [0, 1, 2, 3, 4]);
        let ips = LogFilter {
            ips: vec![net("10.0.0.0/8"), net("2001:db8::/32")],
            ..LogFilter::default()
        };
        // An IPv4-mapped address is an IPv6 one, as in pages.
        assert_eq!(sent(ips), [0, 1, 2]);
        let users = LogFilter {
            users: vec!["-".to_owned(), "bob".to_owned()],
            methods: vec!["POST".to_owned(), "PUT".to_owned()],
            ..LogFilter::default()
        };
        assert_eq!(sent(users), [1, 2]);
        let range = LogFilter {
            codes: vec![(500, 599), (200, 200)],
            since: Some(963_705_600), // 16 July 2000
            until: Some(963_792_000),
            ..LogFilter::default()
        };
        assert_eq!(sent(range), [0, 1, 4]);
        let text = LogFilter {
            paths: vec!["/photos/".to_owned()],
            texts: vec!["curl".to_owned(), "bob".to_owned()],
            ..LogFilter::default()
        };
        assert_eq!(sent(text), [0, 2, 3]);
        let other_source = TailFilter::new(
            LogFilter {
                sources: vec!["2".to_owned()],
                ..LogFilter::default()
            },
            vec![2],
        );
        let Entry::Parsed { line, key } = Entry::from_line(LINES[0]) else {
            panic!("parses");
        };
        assert!(!other_source.key_matches(1, &line, &key));
        assert!(other_source.key_matches(2, &line, &key));
        let unknown = TailFilter::new(
            LogFilter {
                sources: vec!["nosuch:1".to_owned()],
                ..LogFilter::default()
            },
            vec![],
        );
        assert!(!unknown.key_matches(1, &line, &key));
    }
}

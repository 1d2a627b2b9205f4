//! A stand-in for the loggerator image: listens, and on every connection streams the same
//! seeded sequence of lines in its format, then closes. Lets anyone run and test the service
//! without Docker.

use std::io;
use std::net::Ipv4Addr;

use chrono::DateTime;
use log::{debug, info};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::limits::{SECONDS_PER_DAY, SECONDS_PER_HOUR};

/// The users and addresses that the real image sends with its default seed (from captures).
const SEED1_USERS: [(&str, [u8; 4]); 16] = [
    ("jeremymorales", [214, 93, 206, 91]),
    ("tgraham", [202, 67, 241, 147]),
    ("brucebarnes", [103, 171, 3, 30]),
    ("minus_aut", [72, 164, 198, 175]),
    ("lilliangarcia", [112, 138, 41, 191]),
    ("quo_saepe", [65, 39, 219, 253]),
    ("marilyntorres", [249, 87, 118, 62]),
    ("delectus_laudantium", [149, 37, 226, 15]),
    ("markbutler", [165, 76, 41, 247]),
    ("garymitchell", [33, 15, 199, 187]),
    ("inelson", [21, 73, 245, 151]),
    ("roberthowell", [233, 130, 159, 34]),
    ("aut", [103, 38, 201, 7]),
    ("jenniferdiaz", [130, 243, 36, 7]),
    ("quo_tempora_voluptates", [1, 157, 137, 43]),
    ("toddcoleman", [47, 248, 54, 247]),
];

/// Name parts for other seeds, in the image's two styles: `firstlast` and latin `word_word`.
const FIRST: [&str; 12] = [
    "alice", "brian", "carla", "derek", "emma", "frank", "grace", "henry", "irene", "jason",
    "karen", "louis",
];
const LAST: [&str; 10] = [
    "adams", "baker", "clark", "davis", "evans", "foster", "garcia", "hughes", "ingram", "jones",
];
const LATIN: [&str; 12] = [
    "aut",
    "quo",
    "minus",
    "saepe",
    "tempora",
    "voluptates",
    "delectus",
    "laudantium",
    "dolor",
    "amet",
    "eius",
    "nobis",
];

const METHODS: [&str; 3] = ["GET", "POST", "PUT"];
const CODES: [u16; 3] = [200, 403, 500];
const SECTIONS: [&str; 5] = ["bookmarks", "followers", "likes", "photos", "posts"];
/// 2000-07-01T00:00:00Z.
const JULY_2000: i64 = 962_409_600;

/// The deterministic line sequence for one seed; every connection replays it from the start.
pub struct LineGenerator {
    rng: ChaCha8Rng,
    users: Vec<(String, Ipv4Addr)>,
    /// Every this many lines, the user is [`RARE_USER`] (0: never).
    rare_user_every: u64,
    written: u64,
}

/// The user `--rare-user-every` adds, from an address of TEST-NET-1: a user who holds a small,
/// known share of the lines, for measuring queries that select few of them.
pub const RARE_USER: (&str, Ipv4Addr) = ("rareuser", Ipv4Addr::new(192, 0, 2, 1));

/// What one emulated source sends on each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sequence {
    pub count: u64,
    pub seed: u64,
    /// Every this many lines come from [`RARE_USER`]; 0 for none.
    pub rare_user_every: u64,
}

impl LineGenerator {
    pub fn new(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let users = if seed == 1 {
            SEED1_USERS
                .iter()
                .map(|(name, ip)| (name.to_string(), Ipv4Addr::from(*ip)))
                .collect()
        } else {
            invent_users(&mut rng, 16)
        };
        Self {
            rng,
            users,
            rare_user_every: 0,
            written: 0,
        }
    }

    /// The same sequence, except that every `every`-th line comes from [`RARE_USER`] (its
    /// other fields unchanged).
    pub fn with_rare_user(mut self, every: u64) -> Self {
        self.rare_user_every = every;
        self
    }

    pub fn users(&self) -> impl Iterator<Item = &str> {
        self.users.iter().map(|(name, _)| name.as_str())
    }

    /// Appends the next line, with its `\n`, to `out`.
    pub fn write_next(&mut self, out: &mut Vec<u8>) {
        use std::io::Write;
        let index = self.rng.gen_range(0..self.users.len());
        self.written += 1;
        let (user, ip) =
            if self.rare_user_every > 0 && self.written.is_multiple_of(self.rare_user_every) {
                (RARE_USER.0, &RARE_USER.1)
            } else {
                let (user, ip) = &self.users[index];
                (user.as_str(), ip)
            };
        let day = self.rng.gen_range(0..31i64);
        let hour = self.rng.gen_range(1..=12i64);
        let second_of_hour = self.rng.gen_range(0..3600i64);
        let at = JULY_2000 + day * SECONDS_PER_DAY + hour * SECONDS_PER_HOUR + second_of_hour;
        let date = DateTime::from_timestamp(at, 0).unwrap_or_default();
        let method = METHODS[self.rng.gen_range(0..METHODS.len())];
        let section = SECTIONS[self.rng.gen_range(0..SECTIONS.len())];
        let item = self.rng.gen_range(0..300u32);
        let code = CODES[self.rng.gen_range(0..CODES.len())];
        let size = self.rng.gen_range(0..600u32);
        // Writing into a Vec cannot fail.
        let _ = writeln!(
            out,
            "{ip} - {user} [{}] \"{method} /{section}/{item} HTTP/1.0\" {code} {size}",
            date.format("%d/%b/%Y %H:%M:%S +0000"),
        );
    }

    pub fn next_line(&mut self) -> String {
        let mut out = Vec::with_capacity(128);
        self.write_next(&mut out);
        out.pop();
        String::from_utf8(out).unwrap_or_default()
    }
}

fn invent_users(rng: &mut ChaCha8Rng, count: usize) -> Vec<(String, Ipv4Addr)> {
    let mut names = Vec::with_capacity(count);
    while names.len() < count {
        let name = if rng.gen_bool(0.5) {
            format!(
                "{}{}",
                FIRST.choose(rng).unwrap_or(&"user"),
                LAST.choose(rng).unwrap_or(&"name")
            )
        } else {
            let count = rng.gen_range(1..=3);
            let words: Vec<&str> = LATIN.choose_multiple(rng, count).copied().collect();
            words.join("_")
        };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
        .into_iter()
        .map(|name| (name, Ipv4Addr::from(rng.gen::<[u8; 4]>())))
        .collect()
}

/// Streams the sequence to one client, then closes the connection.
pub async fn stream_to(mut socket: TcpStream, sequence: Sequence) -> io::Result<()> {
    let Sequence { count, seed, .. } = sequence;
    let mut generator = LineGenerator::new(seed).with_rare_user(sequence.rare_user_every);
    let mut buf = Vec::with_capacity(128 * 1024);
    let mut sent = 0;
    while sent < count {
        buf.clear();
        while sent < count && buf.len() < 120 * 1024 {
            generator.write_next(&mut buf);
            sent += 1;
        }
        socket.write_all(&buf).await?;
    }
    socket.shutdown().await
}

/// Serves every connection accepted on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, count: u64, seed: u64) -> io::Result<()> {
    let sequence = Sequence {
        count,
        seed,
        rare_user_every: 0,
    };
    serve_sequence(listener, sequence).await
}

/// [`serve`], with every option of the sequence.
pub async fn serve_sequence(listener: TcpListener, sequence: Sequence) -> io::Result<()> {
    let Sequence { count, seed, .. } = sequence;
    info!(
        "emulating a loggerator source on {} ({count} lines per connection, seed {seed})",
        listener.local_addr()?
    );
    loop {
        let (socket, peer) = listener.accept().await?;
        debug!("emulator: client {peer} connected");
        tokio::spawn(async move {
            match stream_to(socket, sequence).await {
                Ok(()) => debug!("emulator: sent {count} lines to {peer}"),
                Err(e) => debug!("emulator: client {peer} went away: {e}"),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::parse::parse_line;

    /// Lines the real image sent with seed 1 (`tests/fixtures/README.md`).
    const CAPTURED: &str = include_str!("../tests/fixtures/loggerator-seed1-sample.log");

    #[test]
    fn the_same_seed_gives_the_same_lines() {
        let a: Vec<String> = (0..50)
            .scan(LineGenerator::new(7), |g, _| Some(g.next_line()))
            .collect();
        let b: Vec<String> = (0..50)
            .scan(LineGenerator::new(7), |g, _| Some(g.next_line()))
            .collect();
        let c: Vec<String> = (0..50)
            .scan(LineGenerator::new(8), |g, _| Some(g.next_line()))
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    /// What a set of lines shows of a stream: each user's address, and the methods, codes,
    /// path sections, protocols, hours and date offsets that occur.
    #[derive(Debug, Default, PartialEq)]
    struct Shape {
        addresses: BTreeMap<String, String>,
        methods: BTreeSet<String>,
        codes: BTreeSet<i32>,
        sections: BTreeSet<String>,
        protocols: BTreeSet<String>,
        hours: BTreeSet<String>,
        offsets: BTreeSet<String>,
    }

    fn shape<'a>(lines: impl Iterator<Item = &'a str>) -> Shape {
        let mut shape = Shape::default();
        for line in lines {
            let record = parse_line(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            let user = record.user.unwrap_or_else(|| panic!("a user in {line}"));
            let previous = shape
                .addresses
                .insert(user.to_owned(), record.ip.to_owned());
            assert!(
                previous.is_none_or(|ip| ip == record.ip),
                "{user} has one address: {line}"
            );
            shape.methods.insert(record.method.into_owned());
            shape.codes.insert(record.code);
            let section = record.url.split('/').nth(1).unwrap_or_default();
            shape.sections.insert(section.to_owned());
            shape.protocols.insert(record.protocol.to_owned());
            // `[12/Jul/2000 05:11:41 +0000]`: the hour and the offset as written.
            let date = &line[line.find('[').unwrap() + 1..line.find(']').unwrap()];
            shape.hours.insert(date[12..14].to_owned());
            shape.offsets.insert(date[21..].to_owned());
        }
        shape
    }

    /// Seed 1 against lines the real image sent with seed 1: every user the capture shows has
    /// the same address here, and the emulator uses nothing the image does not (60 captured
    /// lines show every method, code and section; hours only 01 to 12).
    #[test]
    fn seed_1_looks_like_the_captured_stream_of_the_real_image() {
        let captured = shape(CAPTURED.lines());
        let mut generator = LineGenerator::new(1);
        let lines: Vec<String> = (0..2_000).map(|_| generator.next_line()).collect();
        let emulated = shape(lines.iter().map(String::as_str));

        for (user, ip) in &captured.addresses {
            assert_eq!(emulated.addresses.get(user), Some(ip), "{user}");
        }
        assert_eq!(emulated.addresses.len(), 16);
        assert_eq!(emulated.methods, captured.methods);
        assert_eq!(emulated.codes, captured.codes);
        assert_eq!(emulated.sections, captured.sections);
        assert_eq!(emulated.protocols, captured.protocols);
        assert_eq!(emulated.offsets, captured.offsets);
        let real_hours: BTreeSet<String> = (1..=12).map(|h| format!("{h:02}")).collect();
        assert!(
            captured.hours.is_subset(&real_hours),
            "{:?}",
            captured.hours
        );
        assert_eq!(emulated.hours, real_hours);
    }

    #[test]
    fn other_seeds_invent_sixteen_distinct_users() {
        let generator = LineGenerator::new(42);
        let mut users: Vec<&str> = generator.users().collect();
        users.sort();
        users.dedup();
        assert_eq!(users.len(), 16);
    }
}

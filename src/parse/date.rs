//! The bracketed date of an access-log line: `DD/Mon/YYYY:HH:MM:SS +HHMM` in Common Log Format,
//! or with a space instead of the colon before the time, as loggerator writes it.

use chrono::{NaiveDate, NaiveTime};

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Returns the instant as seconds since the Unix epoch (UTC), or `None` if the text is not a
/// valid date of that shape. Days may have one digit (`1/Jul/2016`).
pub fn parse_log_date(text: &str) -> Option<i64> {
    let mut cur = Cursor(text.as_bytes());
    let day = cur.number(1, 2)?;
    cur.expect(b'/')?;
    let month = cur.month()?;
    cur.expect(b'/')?;
    let year = cur.number(4, 4)?;
    match cur.next()? {
        b':' | b' ' => {}
        _ => return None,
    }
    let hour = cur.number(2, 2)?;
    cur.expect(b':')?;
    let minute = cur.number(2, 2)?;
    cur.expect(b':')?;
    let second = cur.number(2, 2)?;
    cur.expect(b' ')?;
    let sign: i64 = match cur.next()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let offset_hours = cur.number(2, 2)?;
    let offset_minutes = cur.number(2, 2)?;
    if !cur.0.is_empty() || offset_minutes > 59 || offset_hours > 23 {
        return None;
    }

    let date = NaiveDate::from_ymd_opt(year as i32, month, day)?;
    let time = NaiveTime::from_hms_opt(hour, minute, second)?;
    let local = date.and_time(time).and_utc().timestamp();
    let offset = sign * i64::from(offset_hours * 3600 + offset_minutes * 60);
    Some(local - offset)
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn next(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next()? == byte).then_some(())
    }

    fn number(&mut self, min_digits: usize, max_digits: usize) -> Option<u32> {
        let digits = self
            .0
            .iter()
            .take(max_digits)
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits < min_digits {
            return None;
        }
        let (number, rest) = self.0.split_at(digits);
        self.0 = rest;
        Some(
            number
                .iter()
                .fold(0, |acc, &d| acc * 10 + u32::from(d - b'0')),
        )
    }

    fn month(&mut self) -> Option<u32> {
        let name = self.0.get(..3)?;
        let index = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(name))?;
        self.0 = &self.0[3..];
        Some(index as u32 + 1)
    }
}

//! A stored line as the API writes it, shared by pages (`logs`), exports (`export`) and the live
//! tail (`tail`), so that none of them imports another for it.

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use crate::db::read::log_query::LogRow;
use crate::time::rfc3339;

/// A stored line as `GET /logs` shows it: the row's fields, the date in RFC 3339. Written out
/// by hand rather than derived, so the wire format is the API's and the row stays storage's.
pub struct LogView<'a>(pub &'a LogRow);

impl Serialize for LogView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let row = self.0;
        let mut object = serializer.serialize_struct("LogView", 13)?;
        object.serialize_field("id", &row.id)?;
        object.serialize_field("source", &row.source)?;
        object.serialize_field("ip", &row.ip)?;
        object.serialize_field("user", &row.user)?;
        object.serialize_field("date", &rfc3339(row.date))?;
        object.serialize_field("method", &row.method)?;
        object.serialize_field("url", &row.url)?;
        object.serialize_field("protocol", &row.protocol)?;
        object.serialize_field("code", &row.code)?;
        object.serialize_field("size", &row.size)?;
        object.serialize_field("referer", &row.referer)?;
        object.serialize_field("user_agent", &row.user_agent)?;
        object.serialize_field("line", &row.line)?;
        object.end()
    }
}

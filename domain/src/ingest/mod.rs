//! Signal capture: what a collector (or our gateway bot) reports about source messages and how
//! each report changes what we store. `event` is the wire format and its validation, `merge` the
//! ordering rules, `attachment` the safety rules for files, `store` the transaction that applies
//! them and appends to the feed log, `commit_queue` the grouping of concurrent requests into one
//! transaction.

pub mod attachment;
pub(crate) mod commit_queue;
pub mod event;
pub mod merge;
pub mod recent;
pub mod store;

pub use event::{Event, Rejection, parse, parse_with};
pub use store::{Ingested, ItemResult, Status, ingest};

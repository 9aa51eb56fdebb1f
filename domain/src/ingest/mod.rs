//! Signal capture: what a collector (or our gateway bot) reports about source messages and how
//! each report changes what we store. `merge` holds the ordering rules; storage comes on top.

pub mod attachment;
pub mod merge;

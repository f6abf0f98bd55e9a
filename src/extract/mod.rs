//! Extraction, the nightly graph's second stage: ingested reports → shards of [`TripleRow`]s.
//! `shard` plans the shards (reports never split, a plan every worker agrees on), `run` drives
//! the model (`crate::infer`) over them, resumably, `row` is the output row and its Parquet form.

pub mod error;
pub mod row;
pub mod run;
pub mod shard;

pub use error::ExtractError;
pub use row::TripleRow;
pub use run::{extract, read_extraction, ExtractJob, ExtractSummary};
pub use shard::{plan_shards, Shard, ShardPlan};

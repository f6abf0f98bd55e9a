//! Extraction: a trained model over new text. `decode` turns tagger probabilities into token
//! spans; `predict` runs the model over segments in length-bucketed batches (encoder once per
//! segment, all subjects of a batch in one object pass) and maps spans back to report chars.

pub mod run;
pub mod shard;

pub use run::{
    extract, read_extraction, ExtractError, ExtractJob, ExtractSummary, ExtractedTriple,
};
pub use shard::{plan_shards, Shard, ShardPlan};

//! Why a nightly stage stopped: one variant per cause a scheduler or a test tells apart (a
//! refused truncated dump, a stale extraction, a disk error, a bad config…), each printed as
//! the one line a data engineer reads; the layer errors below keep their own types.

use std::path::PathBuf;

use crate::extract::ExtractError;
use crate::graph::GraphError;
use crate::ingest::IngestError;
use crate::model::ModelError;

#[derive(Debug, thiserror::Error)]
pub enum NightlyError {
    /// A stage failed; its name comes first in the message (`ingest: …`).
    #[error("{stage}")]
    Stage {
        stage: &'static str,
        source: Box<NightlyError>,
    },
    /// The ingest numbers do not satisfy `read = accepted + quarantined` (a bug, not data).
    #[error("internal error: counts do not add up: {0}")]
    CountsDoNotAddUp(String),
    /// pipeline/nightly.toml could not be read or is invalid.
    #[error("{}: {message}", path.display())]
    Config { path: PathBuf, message: String },
    /// A command-line override is invalid (`--shard-size 0`).
    #[error("{0}")]
    Setting(String),
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error(transparent)]
    Extract(#[from] ExtractError),
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error("model {}: {source}", dir.display())]
    Model { dir: PathBuf, source: ModelError },
    /// A stage's summary.json could not be written.
    #[error(transparent)]
    Write(#[from] crate::atomic::WriteError),
    /// A stage ran before the stage whose files it reads.
    #[error("{}: not found; run `cbrrel {stage}` first", path.display())]
    MissingStage { path: PathBuf, stage: &'static str },
    /// The last ingest's missing.csv could not be read.
    #[error("{source} (run `cbrrel ingest` again)")]
    MissingList { source: IngestError },
    /// A full dump lacks more stored reports than `input.max_missing_share` allows: a
    /// truncated export is refused before anything is written.
    #[error("the full dump lacks {lacking} of the {in_store} stored reports ({:.1} %, more than input.max_missing_share = {:.1} %): a truncated export? Nothing was loaded. If they really were withdrawn, run `cbrrel retract --ids {}`, then `cbrrel load` again", 100.0 * *lacking as f64 / (*in_store).max(1) as f64, 100.0 * max_share, missing_file.display())]
    TruncatedDump {
        lacking: usize,
        in_store: usize,
        max_share: f64,
        missing_file: PathBuf,
    },
    /// The extraction on disk is not the one of the last ingest.
    #[error("the extraction in {} covers {planned} reports but the last ingest has {to_process} to process: run `cbrrel extract` again", dir.display())]
    StaleExtraction {
        dir: PathBuf,
        planned: usize,
        to_process: usize,
    },
    /// A shard holds triples of a report the last ingest does not list.
    #[error("extracted triples for report {report_id:?}, which the last ingest does not list: run `cbrrel extract` again")]
    StrayReport { report_id: String },
}

//! The annotation loop (issue 12 §2): the model's predictions on an EMR dump out to doccano for
//! annotators to correct (`cbrrel annotate export`), and their corrections back into the
//! corpus format that `cbrrel train` reads (`cbrrel annotate import`).
//!
//! - `select`: which reports first (least confident, random, two models disagreeing).
//! - `export`: tasks = doccano relation JSONL + report id and content hash.
//! - `import`: both doccano export variants → corpus records, problems as `corpus check`
//!   reports them, and what the annotators changed against the tasks.
//! - `args`: the command-line flags and the dump reading they resolve to.

pub mod args;
pub mod export;
pub mod import;
pub mod select;

use std::path::PathBuf;

pub use export::{export, ExportJob, ExportReport, ExportSummary, Task};
pub use import::{diff, import, Change, ChangeKind, ImportSummary};
pub use select::Selection;

#[derive(Debug, thiserror::Error)]
pub enum AnnotateError {
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--select disagreement needs a second model: --against DIR")]
    DisagreementNeedsTwoModels,
    #[error("--n must be at least 1")]
    NoTasks,
    #[error("model {}: {source}", dir.display())]
    Model {
        dir: PathBuf,
        source: crate::model::ModelError,
    },
    #[error(transparent)]
    Device(#[from] crate::infer::DeviceError),
    #[error(transparent)]
    Tokenize(#[from] crate::text::TokenizeError),
    #[error(transparent)]
    Corpus(#[from] crate::corpus::CorpusError),
    #[error(transparent)]
    Ingest(#[from] crate::ingest::IngestError),
    #[error(transparent)]
    Nightly(#[from] crate::nightly::NightlyError),
    #[error(transparent)]
    Write(#[from] crate::atomic::WriteError),
}

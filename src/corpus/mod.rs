//! Corpus layer: annotated corpora in, validated records out.
//!
//! Inputs are doccano relation JSONL (entities with char offsets, relations `from_id → to_id`;
//! the coronary-angiography corpus) and spo_list JSONL (CMeIE with `{"@value": …}` objects,
//! DuIE 1.0 with plain strings, no offsets). Both become [`Record`]s typed by a [`Schema`].
//! Everything a reader does not keep, and every oddity it keeps, is a [`Problem`].
//! `split`, `stats` and `check` work on records; later stages (text, eval) import from here.

mod doccano;
mod fields;
pub mod overlap;
mod problem;
mod reader;
mod record;
mod schema;
pub mod sentences;
pub mod split;
pub mod spo;
pub mod stats;

use std::path::{Path, PathBuf};

pub use doccano::{record_to_doccano, write_doccano};
pub use problem::{Action, Problem, ProblemKind};
pub use reader::{read_corpus, read_corpus_str, Corpus, Format};
pub use record::{char_slice, Arg, Entity, Record, Relation, SpanTriple, TextTriple};
pub use schema::{EntityType, RelationType, Schema, CASMED_TOML};
pub use spo::{record_to_spo, write_spo};

/// Errors of the corpus layer that stop a command (bad records are [`Problem`]s instead).
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("schema: {0}")]
    Schema(String),
    #[error("{path}: cannot tell the corpus format: {reason}")]
    UnknownFormat { path: PathBuf, reason: String },
    #[error("{0}")]
    Invalid(String),
    /// An output file could not be written.
    #[error(transparent)]
    Write(#[from] crate::atomic::WriteError),
}

impl CorpusError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> CorpusError {
        CorpusError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

//! Corpus layer: annotated corpora in, validated records out.
//!
//! Inputs are doccano relation JSONL (entities with char offsets, relations `from_id → to_id`;
//! the coronary-angiography corpus) and spo_list JSONL (CMeIE with `{"@value": …}` objects,
//! DuIE 1.0 with plain strings, no offsets). Both become [`Record`]s typed by a [`Schema`].
//! Everything a reader does not keep, and every oddity it keeps, is a [`Problem`].
//! `split`, `stats` and `check` ([`CheckReport`], and the refusal of files with rejected
//! records) work on records; `write_records` writes records back in either format; later
//! stages (text, eval) import from here.

mod check;
mod doccano;
mod fields;
mod input;
pub mod overlap;
mod problem;
mod reader;
mod record;
mod schema;
pub mod sentences;
pub mod split;
pub mod spo;
pub mod stats;
#[cfg(test)]
pub(crate) mod testkit;
mod writer;

use std::path::{Path, PathBuf};

pub use check::CheckReport;
pub use doccano::{record_to_doccano, write_doccano};
pub use input::CorpusInput;
pub use problem::{Action, Problem, ProblemKind};
pub(crate) use reader::jsonl_lines;
pub use reader::{read_corpus, read_corpus_bytes, read_corpus_str, Corpus, Format};
pub use record::{char_slice, Arg, Entity, Record, Relation, SpanTriple, TextTriple};
pub use schema::{EntityType, RelationType, Schema, CASMED_TOML};
pub use spo::{record_to_spo, write_spo};
pub use writer::write_records;

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
    /// Writing to stdout failed (or a closed pipe, which the binary does not report).
    #[error("{0}")]
    Stdout(#[source] std::io::Error),
}

impl CorpusError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> CorpusError {
        CorpusError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

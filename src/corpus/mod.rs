//! Corpus layer: annotated corpora in, validated records out.
//!
//! Inputs are doccano relation JSONL (entities with char offsets, relations `from_id → to_id`;
//! the coronary-angiography corpus) and spo_list JSONL (CMeIE with `{"@value": …}` objects,
//! DuIE 1.0 with plain strings, no offsets). Both become [`Record`]s typed by a [`Schema`].
//! Everything a reader does not keep, and every oddity it keeps, is a [`Problem`].
//! `split`, `stats` and `check` work on records; later stages (text, eval) import from here.

mod doccano;
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
}

impl CorpusError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> CorpusError {
        CorpusError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// Write `bytes` to `path` atomically: a temporary file in the same folder, fsync, rename.
/// A crash leaves either the old file or the new one, never half of one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CorpusError> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| CorpusError::io(dir, e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| CorpusError::io(dir, e))?;
    tmp.write_all(bytes).map_err(|e| CorpusError::io(path, e))?;
    // tempfile creates 0600; the result is an ordinary output file.
    tmp.as_file()
        .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .map_err(|e| CorpusError::io(path, e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| CorpusError::io(path, e))?;
    tmp.persist(path)
        .map_err(|e| CorpusError::io(path, e.error))?;
    Ok(())
}

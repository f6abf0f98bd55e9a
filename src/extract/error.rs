//! Why the extract stage stopped (a leaf: the shard codec and the stage both use it).

use std::path::PathBuf;

/// Why an extraction failed: a file could not be read or written, a shard is not what the
/// plan says, or tokenizing failed.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parquet { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Tokenize(#[from] crate::text::TokenizeError),
}

//! The CBRRel model in tch, one component per file, each citing the paper's equations:
//! `encoder` (BERT, §3.1) → `bilstm` (§3.3) → `rel_attention` (§3.4) → `taggers` (subject
//! §3.5, object §3.7) with `unet` (§3.6) between them; `loss` (eq. 18); `checkpoint` (HF
//! encoders in, run directories out). Model code reads no corpus files: it takes tensors.

pub mod bilstm;
pub mod cbrrel;
pub mod checkpoint;
pub mod config;
pub mod encoder;
#[cfg(test)]
mod golden;
pub mod loss;
pub mod rel_attention;
pub mod taggers;
pub mod unet;

use std::path::PathBuf;

pub use cbrrel::{Cbrrel, Encoded, StageTimes, ENCODER_GROUP, HEAD_GROUP};
pub use config::{BertConfig, CbrrelConfig, Fusion, HeadConfig, HiddenAct};
pub use taggers::{PointerLogits, SubjectSpans};

/// Errors building, loading or saving a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("model config: {0}")]
    Config(String),
    #[error("{path}: {message}")]
    Weights { path: PathBuf, message: String },
    #[error("{path}: tensor `{name}` is missing")]
    MissingTensor { name: String, path: PathBuf },
    #[error("{path}: tensor `{name}` has shape {found:?}, the model needs {expected:?}")]
    ShapeMismatch {
        name: String,
        expected: Vec<i64>,
        found: Vec<i64>,
        path: PathBuf,
    },
    #[error(transparent)]
    Torch(#[from] tch::TchError),
}

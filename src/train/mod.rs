//! Training: `batch` (length-bucketed, padded batches), `fgm` (§3.2), `ema`, `schedule`
//! (warm-up + linear decay), `settings` (pipeline/train.toml), `run_dir` (the standalone
//! output directory), `trainer` (the loop, early stopping on dev F1).

pub mod batch;
pub mod ema;
pub mod fgm;
pub mod run_dir;
pub mod schedule;
pub mod settings;
pub mod trainer;

pub use run_dir::{LoadedModel, RunConfig};
pub use settings::Settings;
pub use trainer::{train, EncoderSource, TrainError, TrainJob, TrainSummary};

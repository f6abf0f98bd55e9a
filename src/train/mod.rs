//! Training: `fgm` (§3.2), `ema`, `schedule` (warm-up + linear decay), `step_guard` (no
//! non-finite step reaches the weights), `trainer` (the loop,
//! early stopping on dev F1), `report` (a finished run as `cbrrel train` prints it), `cv`
//! (k-fold cross-validation by report: folds, resumption, mean ± sd). The
//! settings, batches, run directory and the predictor used for the dev evaluation live in
//! `infer`, which extraction shares.

pub mod args;
pub mod cv;
pub mod ema;
pub mod fgm;
pub mod recipe;
pub mod report;
pub mod schedule;
pub mod step_guard;
pub mod trainer;

pub use report::{train_report, TrainReport};
pub use trainer::{train, EncoderSource, TrainError, TrainJob, TrainSummary};

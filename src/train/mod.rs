//! Training: `augment` (training reports punctuated the other way), `adamw` (libtorch's fused AdamW kernel, through adamw.cpp), `fgm` (§3.2), `ema`, `schedule` (warm-up + linear decay), `step` (one step:
//! loss, FGM, clipping, AdamW, EMA), `step_guard` (no non-finite step reaches the weights),
//! `torch_reference` (the PyTorch reference run side by side, issue 11 §4), `trainer` (the loop,
//! early stopping on dev F1), `report` (a finished run as `cbrrel train` prints it), `cv`
//! (k-fold cross-validation by report: folds, resumption, mean ± sd). The
//! settings, batches, run directory and the predictor used for the dev evaluation live in
//! `infer`, which extraction shares.

pub mod adamw;
pub mod args;
pub mod augment;
pub mod cv;
pub mod ema;
pub mod fgm;
pub mod recipe;
pub mod report;
pub mod schedule;
pub mod step;
pub mod step_guard;
pub mod torch_reference;
pub mod trainer;

pub use report::{train_report, TrainReport};
pub use trainer::{train, EncoderSource, TrainError, TrainJob, TrainSummary};

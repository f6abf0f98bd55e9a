//! A trained model at work, what training (its dev evaluation) and extraction both need, below
//! both in the layer order: `run_dir` (a model's standalone directory: `config.json`, weights,
//! tokenizer; [`LoadedModel`]), `settings` (`pipeline/train.toml`, recorded in every run
//! directory), `batch` (length-bucketed, padded batches), `decode` (tagger probabilities →
//! token spans), `rules` (the span and pairing rules learned from the training data, behind
//! `[decode]` switches), `tune` (object thresholds per relation tuned on dev), `predict` (records in, records with predicted entities and relations out;
//! [`DecodeSettings`]), `precision` (f32 or bf16 prediction on the CPU), `machine` (the loaded libtorch and what
//! it sees; `cbrrel info`).

pub mod args;
pub mod batch;
pub mod decode;
pub mod device;
pub mod machine;
pub mod precision;
pub mod predict;
pub mod rules;
pub mod run_dir;
pub mod settings;
pub mod tune;

pub use decode::{decode_spans, SpanPred};
pub use device::{parse_device, DeviceError};
pub use machine::Machine;
pub use precision::Precision;
pub use predict::{prepare_examples, DecodeSettings, PredictStats, Predictor};
pub use rules::{DecodeRules, PairRule, PairScope, Scope, SpanRule, SpanStats};
pub use run_dir::{LoadedModel, RunConfig};
pub use settings::Settings;

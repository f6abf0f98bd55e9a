//! `cbrrel eval`'s flags: gold and predictions, or a model and the gold data to run it on.

use std::path::PathBuf;

use clap::Args;

use crate::corpus::overlap::Unit;
use crate::output::OutputFormat;

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Gold corpus (doccano or spo JSONL).
    #[arg(long, required_unless_present = "model", conflicts_with = "model")]
    pub gold: Option<PathBuf>,
    /// Predictions (doccano or spo JSONL), keyed by the gold record ids.
    #[arg(long, required_unless_present = "model", conflicts_with = "model")]
    pub pred: Option<PathBuf>,
    /// A trained model directory: predict `--data` with it, then score.
    #[arg(long, requires = "data")]
    pub model: Option<PathBuf>,
    /// Further model directories predicting with `--model` (repeatable; see `cbrrel predict
    /// --ensemble`).
    #[arg(long, value_name = "DIR", requires = "model")]
    pub ensemble: Vec<PathBuf>,
    /// Gold corpus to run `--model` on.
    #[arg(long, requires = "model")]
    pub data: Option<PathBuf>,
    /// Where the model runs (with --model).
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// What the model predicts in on the CPU (with --model): f32 as trained, or bf16 (faster
    /// on a CPU with native bf16; see `cbrrel info` and BENCHMARKS.md). No effect on CUDA.
    /// A name here, `infer::Precision` in main.rs: `eval` is a layer below `infer`.
    #[arg(long, default_value = "f32", value_parser = ["f32", "bf16"])]
    pub precision: String,
    /// Segments per inference batch (with --model).
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Schema for both files (see `corpus check --schema`).
    #[arg(long)]
    pub schema: Option<PathBuf>,
    /// What a sentence is for the per-overlap-class scores.
    #[arg(long, value_enum)]
    pub unit: Option<Unit>,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
    /// Also write the report as Markdown (eval.md) and JSON (eval.json) into this folder.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

//! `cbrrel predict`'s flags: a trained model and the records or text to run it on.

use std::path::PathBuf;

use clap::Args;

use crate::corpus::Format;

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// A trained model directory.
    #[arg(long)]
    pub model: PathBuf,
    /// Further model directories predicting with `--model` (repeatable): their tagger
    /// probabilities are averaged with its own, and `--model`'s decoding settings decode the
    /// mean. They must share its tokenizer, segmenting and relations. Each one costs a full
    /// model pass.
    #[arg(long, value_name = "DIR")]
    pub ensemble: Vec<PathBuf>,
    /// Records to predict (doccano or spo JSONL; ids and texts are used).
    #[arg(long, required_unless_present = "text", conflicts_with = "text")]
    pub input: Option<PathBuf>,
    /// One text to predict (record id `text`).
    #[arg(long)]
    pub text: Option<String>,
    /// Output file (default: stdout).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Output corpus format.
    #[arg(long, value_enum, default_value_t = Format::Doccano)]
    pub output_format: Format,
    /// auto | cpu | cuda | cuda:N
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// What the model predicts in on the CPU: f32 as trained, or bf16 (faster on a CPU
    /// with native bf16; see `cbrrel info` and BENCHMARKS.md). No effect on CUDA.
    #[arg(long, value_enum, default_value_t)]
    pub precision: crate::infer::Precision,
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
}

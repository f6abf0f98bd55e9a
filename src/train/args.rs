//! `cbrrel train`'s flags: corpora, encoder, settings file and overrides
//! ([`crate::infer::Settings`] merges them into one typed value).

use std::path::PathBuf;

use clap::Args;

use crate::output::OutputFormat;

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Training corpus (doccano or spo JSONL).
    #[arg(long)]
    pub train: PathBuf,
    /// Dev corpus: scored after every epoch (EMA weights); the best epoch is saved, and
    /// training stops early when dev F1 stops improving.
    #[arg(long)]
    pub dev: Option<PathBuf>,
    /// Schema of both files (default: CASMeD for doccano, the files' labels for spo).
    #[arg(long)]
    pub schema: Option<PathBuf>,
    /// A HuggingFace BERT folder (config.json + model.safetensors or pytorch_model.bin).
    #[arg(long, conflicts_with = "encoder_config")]
    pub encoder: Option<PathBuf>,
    /// A randomly initialised encoder: a config.json path, or `hidden=256,layers=4,heads=4`
    /// (optional `intermediate=`, `vocab=`; vocab defaults to the tokenizer's).
    #[arg(long)]
    pub encoder_config: Option<String>,
    /// Tokenizer (tokenizer.json, vocab.txt or a folder); default: the --encoder folder.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Training settings file.
    #[arg(long, default_value = "pipeline/train.toml")]
    pub config: PathBuf,
    /// Override any setting: `--set train.epochs=3 --set model.fusion_channels=4`.
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    pub overrides: Vec<String>,
    #[command(flatten)]
    pub flags: crate::infer::settings::TrainFlags,
    /// auto | cpu | cuda | cuda:N
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Output directory (weights, config, tokenizer, metrics.jsonl).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

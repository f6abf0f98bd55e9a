//! `cbrrel train`'s and `cbrrel cv`'s flags: corpora, encoder, settings file and overrides
//! ([`crate::infer::Settings`] merges them into one typed value). The recipe flags are one
//! struct both commands flatten, so a cross-validation trains its folds exactly as `cbrrel
//! train` would with the same flags.

use std::path::PathBuf;

use clap::Args;

use crate::output::OutputFormat;

/// How a model is trained: encoder, tokenizer, settings, device.
#[derive(Debug, Clone, Args)]
pub struct RecipeArgs {
    /// Schema of the corpora (default: CASMeD for doccano, the files' labels for spo).
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
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Training corpus (doccano or spo JSONL).
    #[arg(long)]
    pub train: PathBuf,
    /// Dev corpus: scored after every epoch (EMA weights); the best epoch is saved, and
    /// training stops early when dev F1 stops improving.
    #[arg(long)]
    pub dev: Option<PathBuf>,
    #[command(flatten)]
    pub recipe: RecipeArgs,
    /// Output directory (weights, config, tokenizer, metrics.jsonl).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

/// `cbrrel cv`: the annotated corpus, the folds, and the recipe every fold is trained with.
#[derive(Debug, Args)]
pub struct CvArgs {
    /// Annotated corpus (doccano or spo JSONL), cut into folds by report.
    #[arg(long)]
    pub data: PathBuf,
    /// Number of folds.
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// Seed of the assignment of reports to folds (`--seed` is training's).
    #[arg(long, default_value_t = 42)]
    pub fold_seed: u64,
    /// Output folder: cv.json (what the folds are), fold-N/ (corpora, model, predictions,
    /// report, scores.json once done), summary.json and summary.md.
    #[arg(long, default_value = "runs/cv")]
    pub out: PathBuf,
    /// Train at most this many folds in this run; a later run finishes the rest.
    #[arg(long)]
    pub max_folds: Option<usize>,
    /// Train only this fold (repeatable; 0-based): folds spread over machines or sessions, or
    /// the last one re-run after a lost folder. The summary covers every finished fold.
    #[arg(long = "fold", value_name = "N")]
    pub only_folds: Vec<usize>,
    /// Score the finished folds' models of this cross-validation folder (same corpus, folds
    /// and training recipe) under this run's decoding settings, without training: how a
    /// `--set decode.…` switch is measured on the same folds.
    #[arg(long)]
    pub models_from: Option<PathBuf>,
    /// Predict each fold with its model and the same fold's model of these cross-validation
    /// folders (repeatable; same corpus and folds, any recipe): an ensemble whose
    /// probabilities are averaged (`cbrrel predict --ensemble`), tuned on the fold's dev set
    /// as one model. A fold is left for a later run until every folder has finished it.
    #[arg(long, value_name = "DIR")]
    pub ensemble_with: Vec<PathBuf>,
    #[command(flatten)]
    pub recipe: RecipeArgs,
    /// Segments per inference batch when scoring a fold (`--batch-size` is training's).
    #[arg(long, default_value_t = 32)]
    pub eval_batch_size: usize,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

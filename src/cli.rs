//! The command line: one subcommand per stage. Parsing only; `main.rs` validates and runs.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use cbrrel::corpus::overlap::Unit;
use cbrrel::corpus::Format;

/// cbrrel — entity–relation extraction and knowledge graphs for Chinese clinical reports.
#[derive(Debug, Parser)]
#[command(name = "cbrrel", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the libtorch version, whether CUDA is available and the device count.
    Info(InfoArgs),
    /// Annotated corpora: check, split, statistics.
    #[command(subcommand)]
    Corpus(CorpusCommand),
    /// Segment, tokenize and label a corpus as the model would see it, and report what was lost.
    Text(TextArgs),
    /// Score predicted triples against gold triples (P/R/F1; the paper's §4.3 rule).
    Eval(EvalArgs),
    /// Synthetic annotated angiography reports (the project's own fixtures).
    #[command(subcommand)]
    Fixtures(FixturesCommand),
}

/// Output style of a command's summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    /// For people.
    #[default]
    Text,
    /// One JSON object on stdout, for schedulers and scripts.
    Json,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

/// How to read an annotated corpus file.
#[derive(Debug, Args, Clone)]
pub struct CorpusInput {
    /// Corpus file (doccano relation JSONL or spo_list JSONL).
    pub file: PathBuf,
    /// Corpus format; detected from the first record when not given.
    #[arg(long, value_enum)]
    pub input_format: Option<Format>,
    /// Schema file (`.toml` in ontology/'s format, or an spo schema such as CMeIE's
    /// 53_schemas.jsonl). Default: CASMeD for doccano files, labels as given for spo files.
    #[arg(long)]
    pub schema: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum CorpusCommand {
    /// Report every record problem (reversed relations, contradicting labels, offsets out of
    /// range or splitting a character, overlapping spans, dangling ids …). Exit code 1 when
    /// problems were found, 0 when the file is clean.
    Check {
        #[command(flatten)]
        input: CorpusInput,
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
        /// Print at most this many problems in text mode (all are counted).
        #[arg(long, default_value_t = 200)]
        max_lines: usize,
    },
    /// Deterministic report-level split; identical texts always land on the same side.
    Split {
        #[command(flatten)]
        input: CorpusInput,
        /// What to keep together. Only whole reports: sentence-level splits of templated
        /// reports leak test sentences into training.
        #[arg(long, value_enum, default_value_t = SplitBy::Report)]
        by: SplitBy,
        /// Weights of train:dev:test (or train:test).
        #[arg(long, default_value = "8:1:1")]
        ratios: String,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Output folder: train.jsonl, dev.jsonl, test.jsonl (records verbatim) and split.json.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
    /// Records, sentences, entities and relations per type, overlap classes (Normal/SEO/EPO).
    Stats {
        #[command(flatten)]
        input: CorpusInput,
        /// What a sentence is for the overlap classes (default: sentences for doccano, the
        /// record for spo files).
        #[arg(long, value_enum)]
        unit: Option<Unit>,
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SplitBy {
    /// Whole reports (records).
    Report,
}

#[derive(Debug, Args)]
pub struct TextArgs {
    #[command(flatten)]
    pub input: CorpusInput,
    /// Tokenizer: a tokenizer.json, a vocab.txt, or a model folder holding one.
    #[arg(long)]
    pub tokenizer: PathBuf,
    /// Most tokens per segment, [CLS] and [SEP] included.
    #[arg(long, default_value_t = 300)]
    pub max_len: usize,
    /// Join neighbouring sentences while they fit in --max-len.
    #[arg(long)]
    pub merge: bool,
    /// Write the labelled segments as JSON lines here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Gold corpus (doccano or spo JSONL).
    #[arg(long)]
    pub gold: PathBuf,
    /// Predictions (doccano or spo JSONL), keyed by the gold record ids.
    #[arg(long)]
    pub pred: PathBuf,
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

#[derive(Debug, Subcommand)]
pub enum FixturesCommand {
    /// Generate synthetic coronary angiography / PCI reports with doccano annotations.
    Generate {
        #[arg(long, default_value_t = 60)]
        reports: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Folder for reports.csv (the EMR-dump shape) and annotated.jsonl (doccano).
        #[arg(long, default_value = "fixtures")]
        out: PathBuf,
    },
}

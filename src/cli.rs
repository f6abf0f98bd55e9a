//! The command line: one subcommand per stage. Parsing only; `main.rs` runs. Each stage's
//! flags are defined beside the stage (`src/*/args.rs`); here are the subcommands and the few
//! whose flags are only this list.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use cbrrel::annotate::args::AnnotateCommand;
use cbrrel::corpus::overlap::Unit;
use cbrrel::corpus::CorpusInput;
use cbrrel::eval::EvalArgs;
use cbrrel::graph::args::{ExportArgs, QueryArgs};
use cbrrel::infer::args::PredictArgs;
use cbrrel::nightly::args::{ExtractArgs, LoadArgs, RetractArgs, StageArgs};
use cbrrel::output::OutputFormat;
use cbrrel::serve::ServeArgs;
use cbrrel::text::args::TextArgs;
use cbrrel::train::args::{CvArgs, TrainArgs};

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
    /// Train a CBRRel model (settings in pipeline/train.toml, overridable here).
    Train(TrainArgs),
    /// Predict triples with a trained model; writes doccano or spo JSONL with offsets and confidences.
    Predict(PredictArgs),
    /// Score predicted triples against gold triples (P/R/F1; the paper's §4.3 rule), or run a
    /// model over a gold file and score it (`--model DIR --data FILE`).
    Eval(EvalArgs),
    /// k-fold cross-validation by report: one model per fold with the training recipe given,
    /// each fold's test scored as `eval --report` does, then mean ± sd over the folds.
    /// Resumable: a finished fold is skipped on a re-run (`--max-folds` to do a few at a time).
    Cv(CvArgs),
    /// Synthetic annotated angiography reports (the project's own fixtures).
    #[command(subcommand)]
    Fixtures(FixturesCommand),
    /// Nightly stage 1: read EMR dumps (CSV, Parquet, NDJSON), quarantine bad rows, hash texts.
    Ingest(StageArgs),
    /// Nightly stage 2: extract triples from the ingested reports, one Parquet file per shard
    /// (resumable; `--shard-index/--shard-count` split the work between processes).
    Extract(ExtractArgs),
    /// Nightly stage 3: load the extracted triples into the Oxigraph store (checked against
    /// ontology/shapes.ttl; entity nodes, typed values, segment links and counts updated).
    /// `--rebuild` rewrites the store in the current layout from its own report graphs.
    Load(LoadArgs),
    /// The whole nightly job: ingest → extract → load, with one summary.
    Graph(ExtractArgs),
    /// Remove report graphs from the store (withdrawn reports): `--report ID`, or `--ids FILE`
    /// (a CSV whose first column is `report_id`, such as the ingest stage's missing.csv).
    Retract(RetractArgs),
    /// SPARQL over the store (read-only; the default graph is the union of all graphs).
    Query(QueryArgs),
    /// Export the store: N-Triples or Turtle of the union graph, or N-Quads with provenance.
    Export(ExportArgs),
    /// A read-only SPARQL 1.1 Protocol endpoint and the clinicians' page over the store's
    /// published snapshot (see the README: how it runs beside the nightly job).
    Serve(ServeArgs),
    /// The annotation loop: predictions on a dump out to doccano (`export`), the annotators'
    /// corrections back as a training corpus (`import`).
    #[command(subcommand)]
    Annotate(AnnotateCommand),
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
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
    /// Write a character-level BERT vocab.txt covering every char of a corpus (for
    /// from-scratch models when no pretrained vocabulary is at hand).
    Vocab {
        #[command(flatten)]
        input: CorpusInput,
        /// Output vocab.txt.
        #[arg(long)]
        out: PathBuf,
    },
    /// How much of the corpus's gold entities the graph's typed-value parser and coronary
    /// segment linker understand: shares of stenosis, TIMI, device-size and dose mentions
    /// parsed and of body parts linked, with the most frequent texts left as text.
    Values {
        #[command(flatten)]
        input: CorpusInput,
        /// List this many unparsed texts per kind (text mode).
        #[arg(long, default_value_t = 10)]
        top: usize,
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
        /// Also count, per relation, the spans this tokenizer (a tokenizer.json, vocab.txt or
        /// model folder) cannot represent: a boundary inside a token, or beyond the decoder.
        #[arg(long)]
        tokenizer: Option<PathBuf>,
        /// With --tokenizer: Latin letters and digits as single characters (`train.split_alnum`).
        #[arg(long, requires = "tokenizer")]
        split_alnum: bool,
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SplitBy {
    /// Whole reports (records).
    Report,
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

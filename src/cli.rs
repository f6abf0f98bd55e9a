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
    /// Train a CBRRel model (settings in pipeline/train.toml, overridable here).
    Train(TrainArgs),
    /// Predict triples with a trained model; writes doccano or spo JSONL with offsets and confidences.
    Predict(PredictArgs),
    /// Score predicted triples against gold triples (P/R/F1; the paper's §4.3 rule), or run a
    /// model over a gold file and score it (`--model DIR --data FILE`).
    Eval(EvalArgs),
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
}

/// Settings shared by the nightly stage commands: pipeline/nightly.toml, every path and size
/// overridable.
#[derive(Debug, Args, Clone)]
pub struct StageArgs {
    /// The nightly configuration.
    #[arg(long, default_value = "pipeline/nightly.toml")]
    pub config: PathBuf,
    #[command(flatten)]
    pub overrides: cbrrel::nightly::Overrides,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

#[derive(Debug, Args, Clone)]
pub struct ExtractArgs {
    #[command(flatten)]
    pub stage: StageArgs,
    /// This worker's index (0-based) among --shard-count workers: a Slurm array task id or a
    /// Kubernetes Indexed Job's JOB_COMPLETION_INDEX.
    #[arg(long, default_value_t = 0)]
    pub shard_index: usize,
    /// Number of workers sharing the dump's shards.
    #[arg(long, default_value_t = 1)]
    pub shard_count: usize,
    /// Hide the progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Args, Clone)]
pub struct LoadArgs {
    #[command(flatten)]
    pub stage: StageArgs,
    /// Rewrite the store in the current layout from its own report graphs instead of loading
    /// the extraction: migrates a store of the first layout, and relinks segments after
    /// ontology/segments.toml was edited. The new store is built beside the old one and
    /// swapped in when complete.
    #[arg(long)]
    pub rebuild: bool,
}

#[derive(Debug, Args, Clone)]
pub struct RetractArgs {
    #[command(flatten)]
    pub stage: StageArgs,
    /// A report id to retract (repeatable).
    #[arg(long = "report", value_name = "ID")]
    pub reports: Vec<String>,
    /// A CSV of report ids (first column `report_id`).
    #[arg(long, value_name = "FILE")]
    pub ids: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Oxigraph store directory.
    #[arg(long, default_value = "work/store")]
    pub store: PathBuf,
    /// The query text.
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    pub sparql: Option<String>,
    /// A .rq file (see ontology/queries/).
    #[arg(long)]
    pub file: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    pub format: cbrrel::graph::ResultFormat,
    /// Run the query and print Oxigraph's plan instead of the results (JSON: the join order
    /// with the rows and time of each step), to see why a query is slow.
    #[arg(long)]
    pub explain: bool,
    /// Stop the query after this many seconds (0: no limit).
    #[arg(long, value_name = "SECONDS", value_parser = seconds, default_value_t = cbrrel::graph::query::DEFAULT_TIMEOUT.as_secs_f64())]
    pub timeout: f64,
}

impl QueryArgs {
    /// `--timeout` as the library takes it (None: no limit).
    pub fn timeout(&self) -> Option<std::time::Duration> {
        (self.timeout > 0.0).then(|| std::time::Duration::from_secs_f64(self.timeout))
    }
}

/// A non-negative, finite number of seconds.
fn seconds(s: &str) -> Result<f64, String> {
    match s.strip_suffix('s').unwrap_or(s).parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds (0 or more)")),
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The store directory `cbrrel load` writes; the server reads the snapshot the load
    /// publishes after it (`<store>.snapshots/`).
    #[arg(long, default_value = "work/store")]
    pub store: PathBuf,
    /// Address to listen on. Loopback by default; any other address lets whoever reaches it
    /// query the whole store (read-only, no authentication).
    #[arg(long, default_value = cbrrel::serve::DEFAULT_BIND)]
    pub bind: std::net::SocketAddr,
    /// A query's time limit in seconds, `30` or `30s` (0: none).
    #[arg(long, value_parser = seconds, default_value_t = cbrrel::serve::DEFAULT_TIMEOUT.as_secs_f64())]
    pub timeout: f64,
    /// Rows one answer may hold; a larger answer is an error, never cut silently (0: no limit).
    #[arg(long, default_value_t = cbrrel::serve::DEFAULT_MAX_RESULTS)]
    pub max_results: usize,
    /// Report texts for the provenance view: ingest's reports.parquet, or CSV files with
    /// report_id and text (shown only where the text's hash is the stored one).
    #[arg(long)]
    pub texts: Vec<PathBuf>,
    /// A folder of .rq files to offer instead of the shipped ontology/queries.
    #[arg(long)]
    pub queries: Option<PathBuf>,
    /// Queries evaluated at once (default: one per core, at least 2).
    #[arg(long)]
    pub workers: Option<usize>,
}

impl ServeArgs {
    /// The server's configuration.
    pub fn config(&self) -> cbrrel::serve::ServeConfig {
        let mut c = cbrrel::serve::ServeConfig::new(&self.store);
        c.bind = self.bind;
        c.timeout = (self.timeout > 0.0).then(|| std::time::Duration::from_secs_f64(self.timeout));
        c.max_results = (self.max_results > 0).then_some(self.max_results);
        c.texts = self.texts.clone();
        c.queries_dir = self.queries.clone();
        if let Some(w) = self.workers {
            c.workers = w;
        }
        c
    }
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Oxigraph store directory.
    #[arg(long, default_value = "work/store")]
    pub store: PathBuf,
    #[arg(long, value_enum)]
    pub format: cbrrel::graph::ExportFormat,
    /// Output file (default: stdout); written atomically.
    #[arg(long)]
    pub out: Option<PathBuf>,
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
    #[arg(long, required_unless_present = "model", conflicts_with = "model")]
    pub gold: Option<PathBuf>,
    /// Predictions (doccano or spo JSONL), keyed by the gold record ids.
    #[arg(long, required_unless_present = "model", conflicts_with = "model")]
    pub pred: Option<PathBuf>,
    /// A trained model directory: predict `--data` with it, then score.
    #[arg(long, requires = "data")]
    pub model: Option<PathBuf>,
    /// Gold corpus to run `--model` on.
    #[arg(long, requires = "model")]
    pub data: Option<PathBuf>,
    /// Where the model runs (with --model).
    #[arg(long, default_value = "auto")]
    pub device: String,
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
    pub flags: cbrrel::infer::settings::TrainFlags,
    /// auto | cpu | cuda | cuda:N
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Output directory (weights, config, tokenizer, metrics.jsonl).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// A trained model directory.
    #[arg(long)]
    pub model: PathBuf,
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
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
}

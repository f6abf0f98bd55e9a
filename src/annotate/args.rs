//! `cbrrel annotate export|import`: flags, and the dump reading and model loading they resolve to.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::export::{export, ExportJob, ExportReport, ExportSummary};
use super::import::{import, ImportSummary};
use super::{AnnotateError, Selection};
use crate::corpus::Schema;
use crate::infer::{parse_device, LoadedModel};
use crate::ingest::{expand_inputs, read_dump, validate, write_quarantine};
use crate::nightly::config::ExtractConfig;
use crate::nightly::{NightlyConfig, Overrides};
use crate::output::OutputFormat;

#[derive(Debug, Subcommand)]
pub enum AnnotateCommand {
    /// Predict the reports of an EMR dump and write doccano tasks (relation JSONL with the
    /// report id and content hash), the reports the model is least sure of first. The dump is
    /// read as `cbrrel ingest` reads it (columns, limits and the PHI guard of
    /// pipeline/nightly.toml): an annotator never sees a quarantined report.
    Export(Box<ExportArgs>),
    /// Read doccano's export of the corrected tasks (its "JSONL (relation)" or plain "JSONL")
    /// into the corpus format `cbrrel train` reads; every problem reported as `cbrrel corpus
    /// check` reports it (exit code 1 when a record, entity or relation was left out), and
    /// with `--tasks` what the annotators changed.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The nightly configuration (dump columns, text limit, PHI policy, default model).
    #[arg(long, default_value = "pipeline/nightly.toml")]
    pub config: PathBuf,
    /// --input DUMP, --model DIR, --device, --batch-size, --phi … as for `cbrrel ingest`.
    #[command(flatten)]
    pub overrides: Overrides,
    /// The tasks file (JSON lines), written atomically; quarantined rows go beside it
    /// (`<out>.quarantine.csv`).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value_t = Selection::LowConfidence)]
    pub select: Selection,
    /// Number of tasks.
    #[arg(long, default_value_t = 100)]
    pub n: usize,
    /// The second model of `--select disagreement`.
    #[arg(long)]
    pub against: Option<PathBuf>,
    /// Seed of `--select random`.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// doccano's export (JSON lines).
    #[arg(long = "in", value_name = "FILE")]
    pub input: PathBuf,
    /// The corpus file to write (doccano relation JSONL, ids = report ids), atomically.
    #[arg(long)]
    pub out: PathBuf,
    /// The tasks `annotate export` wrote: list what the annotators changed.
    #[arg(long)]
    pub tasks: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

/// A model as the nightly extraction runs it (`[extract] device` and `precision`), so the
/// predictions shown to annotators are the graph's.
fn load_model(dir: &Path, extract: &ExtractConfig) -> Result<LoadedModel, AnnotateError> {
    let mut model = LoadedModel::load(dir, parse_device(&extract.device)?).map_err(|source| {
        AnnotateError::Model {
            dir: dir.to_owned(),
            source,
        }
    })?;
    model.set_precision(extract.precision);
    Ok(model)
}

/// `<out>.quarantine.csv`.
fn quarantine_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".quarantine.csv");
    out.with_file_name(name)
}

impl ExportArgs {
    pub fn run(&self) -> Result<ExportSummary, AnnotateError> {
        if self.n == 0 {
            return Err(AnnotateError::NoTasks);
        }
        let cfg = NightlyConfig::resolve(&self.config, &self.overrides)?;
        let inputs = expand_inputs(&cfg.input.paths)?;
        let mut rows = Vec::new();
        for path in &inputs {
            rows.extend(read_dump(path, cfg.input.format, &cfg.columns)?);
        }
        let read = rows.len();
        let v = validate(rows, cfg.limits.max_text_chars, cfg.input.phi);
        let reports: Vec<ExportReport> = v
            .accepted
            .iter()
            .map(|r| ExportReport {
                report_id: r.id_str().expect("validated").to_owned(),
                text: r.text_str().expect("validated").to_owned(),
            })
            .collect();
        let model = load_model(&cfg.model.dir, &cfg.extract)?;
        let against = match &self.against {
            Some(dir) => Some(load_model(dir, &cfg.extract)?),
            None => None,
        };
        let job = ExportJob {
            reports: &reports,
            model: &model,
            against: against.as_ref(),
            selection: self.select,
            n: self.n,
            seed: self.seed,
            batch_size: cfg.extract.batch_size,
        };
        let mut summary = export(&job, &self.out)?;
        summary.inputs = inputs;
        summary.read = read;
        summary.count_quarantine(&v.quarantined);
        let path = quarantine_path(&self.out);
        if v.quarantined.is_empty() {
            // A quarantine file left by an earlier export would belong to other tasks.
            let _ = std::fs::remove_file(&path);
        } else {
            write_quarantine(&path, &v.quarantined)?;
            summary.quarantine_file = Some(path);
        }
        debug_assert!(summary.adds_up());
        Ok(summary)
    }
}

impl ImportArgs {
    pub fn run(&self) -> Result<ImportSummary, AnnotateError> {
        import(
            &self.input,
            &self.out,
            self.tasks.as_deref(),
            &Schema::casmed(),
        )
    }
}

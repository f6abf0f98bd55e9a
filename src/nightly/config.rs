//! pipeline/nightly.toml: where the dump is, how its columns are named, which model, how big a
//! shard, where the work files and the store live. Every path and size can be overridden on
//! the command line; relative paths are relative to the directory the command runs in.

use crate::ingest::phi::PhiPolicy;
use std::path::{Path, PathBuf};

use super::error::NightlyError;

use serde::{Deserialize, Serialize};

use crate::infer::Precision;
use crate::ingest::{ColumnMap, DumpFormat};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NightlyConfig {
    /// Stage outputs: `{work_dir}/ingest/`, `{work_dir}/extract/`.
    pub work_dir: PathBuf,
    pub input: InputConfig,
    #[serde(default)]
    pub columns: ColumnMap,
    #[serde(default)]
    pub limits: Limits,
    pub model: ModelConfig,
    #[serde(default)]
    pub extract: ExtractConfig,
    pub store: StoreConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    /// Files or globs (`dumps/*.parquet`).
    pub paths: Vec<String>,
    /// Format of every input; by file extension when absent.
    #[serde(default)]
    pub format: Option<DumpFormat>,
    /// What a dump holds: every report the source still has (`full`), or only new and changed
    /// ones (`incremental`, the default). Only a full dump can say a report was withdrawn.
    #[serde(default)]
    pub dump: DumpKind,
    /// A full dump that lacks more than this share of the stored reports is refused at load
    /// (a truncated export looks exactly like a mass withdrawal); `cbrrel retract --ids
    /// {work_dir}/ingest/missing.csv` retracts them once a person has checked.
    #[serde(default = "default_max_missing_share")]
    pub max_missing_share: f64,
    /// The PHI guard: what to do with a report whose text holds a direct identifier (resident
    /// id, phone, record number, name, address, birth date): `quarantine` (default), `mask`
    /// or `off` (crate::ingest::phi).
    #[serde(default)]
    pub phi: PhiPolicy,
}

fn default_max_missing_share() -> f64 {
    0.2
}

/// See `InputConfig::dump`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DumpKind {
    /// Reports absent from the dump keep their graphs.
    #[default]
    Incremental,
    /// Reports absent from the dump are retracted from the store at load.
    Full,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Longest accepted report text, in chars.
    pub max_text_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_text_chars: 20_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// A run directory written by `cbrrel train`.
    pub dir: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtractConfig {
    /// Sentences per shard (at least; a report is never split).
    pub shard_size: usize,
    /// Segments per model batch.
    pub batch_size: usize,
    /// auto | cpu | cuda | cuda:N
    pub device: String,
    /// f32 | bf16: what the model predicts in on the CPU (infer/precision.rs; CUDA runs
    /// autocast whatever this says). Absent: f32.
    #[serde(default)]
    pub precision: Precision,
}

impl Default for ExtractConfig {
    fn default() -> Self {
        ExtractConfig {
            shard_size: 2000,
            batch_size: 32,
            device: "auto".into(),
            precision: Precision::F32,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Oxigraph store directory (RocksDB).
    pub dir: PathBuf,
}

impl NightlyConfig {
    pub fn load(path: &Path) -> Result<NightlyConfig, NightlyError> {
        let fail = |message: String| NightlyError::Config {
            path: path.to_owned(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let cfg: NightlyConfig = toml::from_str(&text).map_err(|e| fail(e.to_string()))?;
        if !(0.0..=1.0).contains(&cfg.input.max_missing_share) {
            return Err(fail(format!(
                "input.max_missing_share {} outside [0, 1]",
                cfg.input.max_missing_share
            )));
        }
        Ok(cfg)
    }

    /// pipeline/nightly.toml with the command line's overrides applied and checked: the one
    /// resolved configuration every stage runs from.
    pub fn resolve(path: &Path, o: &Overrides) -> Result<NightlyConfig, NightlyError> {
        let mut cfg = NightlyConfig::load(path)?;
        let positive = |flag: &str, n: Option<usize>| match n {
            Some(0) => Err(NightlyError::Setting(format!(
                "--{flag} must be at least 1"
            ))),
            other => Ok(other),
        };
        if !o.input.is_empty() {
            cfg.input.paths = o.input.clone();
        }
        cfg.input.format = o.input_format.or(cfg.input.format);
        let paths = [
            (&o.store, &mut cfg.store.dir),
            (&o.model, &mut cfg.model.dir),
            (&o.work_dir, &mut cfg.work_dir),
        ];
        for (given, field) in paths {
            if let Some(p) = given {
                *field = p.clone();
            }
        }
        if let Some(n) = positive("shard-size", o.shard_size)? {
            cfg.extract.shard_size = n;
        }
        if let Some(n) = positive("batch-size", o.batch_size)? {
            cfg.extract.batch_size = n;
        }
        if let Some(n) = o.max_text_chars {
            cfg.limits.max_text_chars = n;
        }
        if let Some(p) = o.phi {
            cfg.input.phi = p;
        }
        if let Some(d) = &o.device {
            cfg.extract.device = d.clone();
        }
        if let Some(p) = o.precision {
            cfg.extract.precision = p;
        }
        if let Some(d) = o.dump {
            cfg.input.dump = d;
        }
        if let Some(x) = o.max_missing_share {
            if !(0.0..=1.0).contains(&x) {
                return Err(NightlyError::Setting(format!(
                    "--max-missing-share {x} outside [0, 1]"
                )));
            }
            cfg.input.max_missing_share = x;
        }
        Ok(cfg)
    }

    pub fn ingest_dir(&self) -> PathBuf {
        self.work_dir.join("ingest")
    }

    pub fn extract_dir(&self) -> PathBuf {
        self.work_dir.join("extract")
    }
}

/// What the command line may override in pipeline/nightly.toml (`cbrrel ingest`, `extract`,
/// `load`, `retract`, `graph`); [`NightlyConfig::resolve`] applies and checks them.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Overrides {
    /// Dump files or globs (replace `[input] paths`).
    #[arg(long)]
    pub input: Vec<String>,
    /// Format of every input (default: by extension).
    #[arg(long, value_enum)]
    pub input_format: Option<crate::ingest::DumpFormat>,
    /// Oxigraph store directory.
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// Trained model directory.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Where stage outputs go (ingest/, extract/).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Sentences per extraction shard.
    #[arg(long)]
    pub shard_size: Option<usize>,
    /// Segments per model batch.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Longest accepted report text, in chars.
    #[arg(long)]
    pub max_text_chars: Option<usize>,
    /// The PHI guard (replaces `[input] phi`).
    #[arg(long, value_enum)]
    pub phi: Option<PhiPolicy>,
    /// auto | cpu | cuda | cuda:N
    #[arg(long)]
    pub device: Option<String>,
    /// What the model predicts in on the CPU (replaces `[extract] precision`).
    #[arg(long, value_enum)]
    pub precision: Option<Precision>,
    /// What the dump holds (replaces `[input] dump`): `full` retracts stored reports it lacks.
    #[arg(long, value_enum)]
    pub dump: Option<DumpKind>,
    /// Largest share of stored reports a full dump may lack before the load is refused.
    #[arg(long)]
    pub max_missing_share: Option<f64>,
}

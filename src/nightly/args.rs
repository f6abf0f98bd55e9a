//! The nightly commands' flags (`ingest`, `extract`, `load`, `graph`, `retract`) and the
//! [`NightlyCommand`] each one asks [`super::run_command`] for.

use std::path::PathBuf;

use clap::Args;

use super::{NightlyCommand, Worker};
use crate::output::OutputFormat;

/// Settings shared by the nightly stage commands: pipeline/nightly.toml, every path and size
/// overridable.
#[derive(Debug, Args, Clone)]
pub struct StageArgs {
    /// The nightly configuration.
    #[arg(long, default_value = "pipeline/nightly.toml")]
    pub config: PathBuf,
    #[command(flatten)]
    pub overrides: crate::nightly::Overrides,
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

impl ExtractArgs {
    /// This process's share of the shards, and whether it shows a progress bar.
    pub fn worker(&self) -> Worker {
        Worker {
            index: self.shard_index,
            count: self.shard_count,
            progress: !self.quiet && self.stage.format == OutputFormat::Text,
        }
    }
}

impl LoadArgs {
    pub fn command(&self) -> NightlyCommand<'_> {
        match self.rebuild {
            true => NightlyCommand::Rebuild,
            false => NightlyCommand::Load,
        }
    }
}

impl RetractArgs {
    pub fn command(&self) -> NightlyCommand<'_> {
        NightlyCommand::Retract {
            reports: &self.reports,
            ids_file: self.ids.as_deref(),
        }
    }
}

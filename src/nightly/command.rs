//! The nightly commands (`cbrrel ingest`, `extract`, `load [--rebuild]`, `graph`, `retract`)
//! as one library call each: resolve pipeline/nightly.toml with the command line's overrides,
//! run the command's stages in order, and return the one summary, its total time recorded and
//! its counts checked. A failing stage's error is prefixed with the stage's name.

use std::path::Path;
use std::time::Instant;

use super::config::{NightlyConfig, Overrides};
use super::error::NightlyError;
use super::run::{
    run_extract, run_ingest, run_load, run_rebuild, run_retract, ExtractOptions, NightlySummary,
};

/// Test hook: `CBRREL_ABORT_AFTER_SHARDS=k` aborts `extract` after k shards (a crash).
const ABORT_HOOK: &str = "CBRREL_ABORT_AFTER_SHARDS";

/// Which share of the extraction this process does (`--shard-index/--shard-count`).
#[derive(Debug, Clone, Copy)]
pub struct Worker {
    pub index: usize,
    pub count: usize,
    /// Show the progress bar.
    pub progress: bool,
}

/// A nightly command and what it was given beyond the configuration.
#[derive(Debug, Clone, Copy)]
pub enum NightlyCommand<'a> {
    Ingest,
    Extract(Worker),
    Load,
    /// `load --rebuild`: the store rewritten from its own report graphs.
    Rebuild,
    /// ingest → extract → load in one process (one worker only).
    Graph(Worker),
    /// Retract these report ids, and those listed in the CSV file.
    Retract {
        reports: &'a [String],
        ids_file: Option<&'a Path>,
    },
}

/// Run `command` with the configuration at `config` and `overrides`.
pub fn run_command(
    config: &Path,
    overrides: &Overrides,
    command: NightlyCommand<'_>,
) -> Result<NightlySummary, NightlyError> {
    let t0 = Instant::now();
    let cfg = NightlyConfig::resolve(config, overrides)?;
    let mut s = match command {
        NightlyCommand::Ingest | NightlyCommand::Rebuild | NightlyCommand::Graph(_) => {
            NightlySummary::default()
        }
        _ => NightlySummary::from_work_dir(&cfg),
    };
    match command {
        NightlyCommand::Ingest => {
            run_ingest(&cfg, &mut s).map_err(stage("ingest"))?;
        }
        NightlyCommand::Extract(worker) => {
            let opts = extract_options(&cfg, worker)?;
            s.stages.clear();
            run_extract(&cfg, &opts, &mut s).map_err(stage("extract"))?;
        }
        NightlyCommand::Load => {
            s.stages.clear();
            run_load(&cfg, &mut s).map_err(stage("load"))?;
        }
        NightlyCommand::Rebuild => {
            run_rebuild(&cfg, &mut s).map_err(stage("load --rebuild"))?;
        }
        NightlyCommand::Graph(worker) => {
            if worker.count != 1 {
                return Err(NightlyError::Setting("`cbrrel graph` runs every stage in one process; split extraction with `cbrrel extract --shard-index/--shard-count`, then `cbrrel load`".into()));
            }
            let opts = extract_options(&cfg, worker)?;
            run_ingest(&cfg, &mut s).map_err(stage("ingest"))?;
            run_extract(&cfg, &opts, &mut s).map_err(stage("extract"))?;
            run_load(&cfg, &mut s).map_err(stage("load"))?;
        }
        NightlyCommand::Retract { reports, ids_file } => {
            let mut ids = reports.to_vec();
            if let Some(file) = ids_file {
                ids.extend(crate::ingest::read_missing(file)?);
            }
            if ids.is_empty() {
                return Err(NightlyError::Setting(
                    "give the reports to retract: --report ID (repeatable) or --ids FILE".into(),
                ));
            }
            let r = run_retract(&cfg, &ids, &mut s).map_err(stage("retract"))?;
            if r.not_in_store > 0 {
                eprintln!(
                    "retract: {} of {} ids had no graph in {}",
                    r.not_in_store,
                    r.requested,
                    cfg.store.dir.display()
                );
            }
        }
    }
    s.seconds.insert("total".into(), t0.elapsed().as_secs_f64());
    if !s.adds_up() {
        return Err(NightlyError::CountsDoNotAddUp(format!("{:?}", s.ingest)));
    }
    Ok(s)
}

/// The error of the stage `name`, under its name.
fn stage(name: &'static str) -> impl FnOnce(NightlyError) -> NightlyError {
    move |source| NightlyError::Stage {
        stage: name,
        source: Box::new(source),
    }
}

/// The extract stage's options: this worker, the configured device, the test hook.
fn extract_options(cfg: &NightlyConfig, worker: Worker) -> Result<ExtractOptions, NightlyError> {
    crate::extract::shard::check_worker(worker.index, worker.count)?;
    let abort_after = match std::env::var(ABORT_HOOK) {
        Ok(v) => Some(
            (v.parse::<usize>())
                .map_err(|e| NightlyError::Setting(format!("{ABORT_HOOK}={v}: {e}")))?,
        ),
        Err(_) => None,
    };
    Ok(ExtractOptions {
        device: crate::infer::parse_device(&cfg.extract.device)
            .map_err(|e| NightlyError::Setting(e.to_string()))?,
        worker: worker.index,
        workers: worker.count,
        progress: worker.progress,
        abort_after,
    })
}

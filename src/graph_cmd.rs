//! The nightly graph commands of the binary: `ingest`, `extract`, `load`, `graph`, `query`,
//! `export`. Thin: settings from pipeline/nightly.toml with command-line overrides, then the
//! library stage, then one summary (text for people, one JSON object for schedulers).

use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use crate::cli::{
    ExportArgs, ExtractArgs, LoadArgs, OutputFormat, QueryArgs, RetractArgs, StageArgs,
};
use cbrrel::nightly::{
    run_extract, run_ingest, run_load, run_rebuild, run_retract, ExtractOptions, NightlyConfig,
    NightlySummary,
};

/// Test hook: `CBRREL_ABORT_AFTER_SHARDS=k` aborts `extract` after k shards (a crash).
const ABORT_HOOK: &str = "CBRREL_ABORT_AFTER_SHARDS";

fn config(a: &StageArgs) -> Result<NightlyConfig> {
    Ok(NightlyConfig::resolve(&a.config, &a.overrides)?)
}

fn extract_options(a: &ExtractArgs, cfg: &NightlyConfig) -> Result<ExtractOptions> {
    cbrrel::extract::shard::check_worker(a.shard_index, a.shard_count)?;
    let abort_after = match std::env::var(ABORT_HOOK) {
        Ok(v) => Some(
            v.parse::<usize>()
                .with_context(|| format!("{ABORT_HOOK}={v}"))?,
        ),
        Err(_) => None,
    };
    Ok(ExtractOptions {
        device: cbrrel::infer::parse_device(&cfg.extract.device)?,
        worker: a.shard_index,
        workers: a.shard_count,
        progress: !a.quiet && a.stage.format == OutputFormat::Text,
        abort_after,
    })
}

fn finish(format: OutputFormat, mut s: NightlySummary, t0: std::time::Instant) -> Result<ExitCode> {
    s.seconds.insert("total".into(), t0.elapsed().as_secs_f64());
    if !s.adds_up() {
        bail!("internal error: counts do not add up: {:?}", s.ingest);
    }
    crate::print_out(format, &s, || s.to_string())?;
    Ok(ExitCode::SUCCESS)
}

pub fn ingest(a: StageArgs) -> Result<ExitCode> {
    let t0 = std::time::Instant::now();
    let cfg = config(&a)?;
    let mut s = NightlySummary::default();
    run_ingest(&cfg, &mut s).context("ingest")?;
    finish(a.format, s, t0)
}

pub fn extract(a: ExtractArgs) -> Result<ExitCode> {
    let t0 = std::time::Instant::now();
    let cfg = config(&a.stage)?;
    let opts = extract_options(&a, &cfg)?;
    let mut s = NightlySummary::from_work_dir(&cfg);
    s.stages.clear();
    run_extract(&cfg, &opts, &mut s).context("extract")?;
    finish(a.stage.format, s, t0)
}

pub fn load(a: LoadArgs) -> Result<ExitCode> {
    let t0 = std::time::Instant::now();
    let cfg = config(&a.stage)?;
    if a.rebuild {
        let mut s = NightlySummary::default();
        run_rebuild(&cfg, &mut s).context("load --rebuild")?;
        return finish(a.stage.format, s, t0);
    }
    let mut s = NightlySummary::from_work_dir(&cfg);
    s.stages.clear();
    run_load(&cfg, &mut s).context("load")?;
    finish(a.stage.format, s, t0)
}

pub fn graph(a: ExtractArgs) -> Result<ExitCode> {
    let t0 = std::time::Instant::now();
    let cfg = config(&a.stage)?;
    if a.shard_count != 1 {
        bail!(
            "`cbrrel graph` runs every stage in one process; split extraction with `cbrrel extract --shard-index/--shard-count`, then `cbrrel load`"
        );
    }
    let opts = extract_options(&a, &cfg)?;
    let mut s = NightlySummary::default();
    run_ingest(&cfg, &mut s).context("ingest")?;
    run_extract(&cfg, &opts, &mut s).context("extract")?;
    run_load(&cfg, &mut s).context("load")?;
    finish(a.stage.format, s, t0)
}

pub fn retract(a: RetractArgs) -> Result<ExitCode> {
    let t0 = std::time::Instant::now();
    let cfg = config(&a.stage)?;
    let mut ids = a.reports.clone();
    if let Some(file) = &a.ids {
        ids.extend(cbrrel::ingest::read_missing(file)?);
    }
    if ids.is_empty() {
        bail!("give the reports to retract: --report ID (repeatable) or --ids FILE");
    }
    let mut s = NightlySummary::from_work_dir(&cfg);
    let r = run_retract(&cfg, &ids, &mut s).context("retract")?;
    if r.not_in_store > 0 {
        eprintln!(
            "retract: {} of {} ids had no graph in {}",
            r.not_in_store,
            r.requested,
            cfg.store.dir.display()
        );
    }
    finish(a.stage.format, s, t0)
}

pub fn query(a: QueryArgs) -> Result<ExitCode> {
    let sparql = match (&a.sparql, &a.file) {
        (Some(q), _) => q.clone(),
        (None, Some(f)) => {
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?
        }
        (None, None) => bail!("give a query or --file"),
    };
    let mut stdout = std::io::stdout().lock();
    if a.explain {
        cbrrel::graph::query::explain(&a.store, &sparql, &mut stdout, a.timeout())?;
        stdout.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    cbrrel::graph::run_query(&a.store, &sparql, a.format, &mut stdout, a.timeout())?;
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}

pub fn export(a: ExportArgs) -> Result<ExitCode> {
    let summary = match &a.out {
        Some(path) => {
            let mut summary = None;
            cbrrel::atomic::write_with(path, |file| -> Result<()> {
                let mut w = std::io::BufWriter::new(file);
                summary = Some(cbrrel::graph::export(&a.store, a.format, &mut w)?);
                w.flush()?;
                Ok(())
            })?;
            summary.expect("written")
        }
        None => {
            let mut w = std::io::BufWriter::new(std::io::stdout().lock());
            let s = cbrrel::graph::export(&a.store, a.format, &mut w)?;
            w.flush()?;
            s
        }
    };
    eprintln!(
        "export: {} quads read, {} written",
        summary.quads_read, summary.written
    );
    Ok(ExitCode::SUCCESS)
}

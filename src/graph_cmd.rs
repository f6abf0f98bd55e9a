//! The nightly graph commands of the binary: `ingest`, `extract`, `load`, `graph`, `query`,
//! `export`. Thin: settings from pipeline/nightly.toml with command-line overrides, then the
//! library stage, then one summary (text for people, one JSON object for schedulers).

use std::fmt::Write as _;
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
    let mut cfg = NightlyConfig::load(&a.config)?;
    if !a.input.is_empty() {
        cfg.input.paths = a.input.clone();
    }
    if a.input_format.is_some() {
        cfg.input.format = a.input_format;
    }
    if let Some(s) = &a.store {
        cfg.store.dir = s.clone();
    }
    if let Some(m) = &a.model {
        cfg.model.dir = m.clone();
    }
    if let Some(w) = &a.work_dir {
        cfg.work_dir = w.clone();
    }
    if let Some(n) = a.shard_size {
        if n == 0 {
            bail!("--shard-size must be at least 1");
        }
        cfg.extract.shard_size = n;
    }
    if let Some(n) = a.batch_size {
        if n == 0 {
            bail!("--batch-size must be at least 1");
        }
        cfg.extract.batch_size = n;
    }
    if let Some(n) = a.max_text_chars {
        cfg.limits.max_text_chars = n;
    }
    if let Some(d) = &a.device {
        cfg.extract.device = d.clone();
    }
    if let Some(d) = a.dump {
        cfg.input.dump = d;
    }
    if let Some(x) = a.max_missing_share {
        if !(0.0..=1.0).contains(&x) {
            bail!("--max-missing-share {x} outside [0, 1]");
        }
        cfg.input.max_missing_share = x;
    }
    Ok(cfg)
}

fn extract_options(a: &ExtractArgs, cfg: &NightlyConfig) -> Result<ExtractOptions> {
    if a.shard_count == 0 || a.shard_index >= a.shard_count {
        bail!(
            "--shard-index {} must be below --shard-count {}",
            a.shard_index,
            a.shard_count
        );
    }
    let abort_after = match std::env::var(ABORT_HOOK) {
        Ok(v) => Some(
            v.parse::<usize>()
                .with_context(|| format!("{ABORT_HOOK}={v}"))?,
        ),
        Err(_) => None,
    };
    Ok(ExtractOptions {
        device: crate::parse_device(&cfg.extract.device)?,
        worker: a.shard_index,
        workers: a.shard_count,
        progress: !a.quiet && a.stage.format == OutputFormat::Text,
        abort_after,
    })
}

fn human(s: &NightlySummary) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "stages: {}", s.stages.join(" → "));
    if s.stages.iter().any(|x| x == "ingest") {
        let _ = writeln!(
            out,
            "ingest: read {} = accepted {} + quarantined {}; accepted = new {} + changed {} + skipped (unchanged) {}",
            s.ingest.read, s.ingest.accepted, s.ingest.quarantined, s.ingest.new, s.ingest.changed, s.ingest.skipped
        );
        if s.ingest.missing > 0 {
            let _ = writeln!(
                out,
                "  {} of {} stored reports are not in this dump (ingest/missing.csv)",
                s.ingest.missing, s.ingest.in_store
            );
        }
        for (reason, n) in &s.ingest.quarantine_reasons {
            let _ = writeln!(out, "  quarantined {reason}: {n}");
        }
    }
    if s.stages.iter().any(|x| x == "extract" || x == "load") {
        let _ = writeln!(
            out,
            "extract: {} reports, {} sentences, {} shards, {} triples",
            s.reports_extracted, s.sentences, s.shards, s.triples
        );
        for (rel, n) in &s.per_relation {
            let _ = writeln!(out, "  {rel}: {n}");
        }
    }
    if s.stages.iter().any(|x| x == "load" || x == "rebuild") {
        let _ = writeln!(
            out,
            "graph: entity nodes +{} −{}; typed values {} parsed, {} unparsed (kept as text); body-part mentions linked to a coronary vessel {} of {}",
            s.entities_added,
            s.entities_removed,
            s.values_parsed,
            s.values_unparsed,
            s.bp_mentions_linked,
            s.bp_mentions
        );
    }
    if s.stages
        .iter()
        .any(|x| x == "load" || x == "retract" || x == "rebuild")
    {
        if s.retracted > 0 || s.stages.iter().any(|x| x == "retract") {
            let _ = writeln!(out, "retracted: {} report graphs", s.retracted);
        }
        let _ = writeln!(
            out,
            "store: {} quads, {:.1} MiB on disk",
            s.store_quads,
            s.store_bytes as f64 / 1048576.0
        );
    }
    let secs: Vec<String> = s
        .stages
        .iter()
        .chain(std::iter::once(&"total".to_string()))
        .filter_map(|k| s.seconds.get(k).map(|v| format!("{k} {v:.2}s")))
        .collect();
    let _ = writeln!(out, "time: {}", secs.join(", "));
    out
}

fn finish(format: OutputFormat, mut s: NightlySummary, t0: std::time::Instant) -> Result<ExitCode> {
    s.seconds.insert("total".into(), t0.elapsed().as_secs_f64());
    if !s.adds_up() {
        bail!("internal error: counts do not add up: {:?}", s.ingest);
    }
    crate::print_out(format, &s, || human(&s))?;
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

//! The nightly graph commands of the binary: `ingest`, `extract`, `load`, `graph`, `retract`,
//! `query`, `export`. Thin: the library runs the command ([`run_command`]), this prints its
//! summary (text for people, one JSON object for schedulers).

use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use crate::cli::{
    ExportArgs, ExtractArgs, LoadArgs, OutputFormat, QueryArgs, RetractArgs, StageArgs,
};
use cbrrel::nightly::{run_command, NightlyCommand, Worker};

fn run(a: &StageArgs, command: NightlyCommand<'_>) -> Result<ExitCode> {
    let summary = run_command(&a.config, &a.overrides, command)?;
    crate::print_out(a.format, &summary)
}

fn worker(a: &ExtractArgs) -> Worker {
    Worker {
        index: a.shard_index,
        count: a.shard_count,
        progress: !a.quiet && a.stage.format == OutputFormat::Text,
    }
}

pub fn ingest(a: StageArgs) -> Result<ExitCode> {
    run(&a, NightlyCommand::Ingest)
}

pub fn extract(a: ExtractArgs) -> Result<ExitCode> {
    run(&a.stage, NightlyCommand::Extract(worker(&a)))
}

pub fn load(a: LoadArgs) -> Result<ExitCode> {
    let command = match a.rebuild {
        true => NightlyCommand::Rebuild,
        false => NightlyCommand::Load,
    };
    run(&a.stage, command)
}

pub fn graph(a: ExtractArgs) -> Result<ExitCode> {
    run(&a.stage, NightlyCommand::Graph(worker(&a)))
}

pub fn retract(a: RetractArgs) -> Result<ExitCode> {
    let ids_file = a.ids.as_deref();
    run(
        &a.stage,
        NightlyCommand::Retract {
            reports: &a.reports,
            ids_file,
        },
    )
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

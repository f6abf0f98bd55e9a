//! `cbrrel query` and `cbrrel export`'s flags, and the duration parser `cbrrel serve` shares.

use std::path::PathBuf;

use std::io::Write;

use clap::Args;

use super::{ExportSummary, GraphError};

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
    pub format: crate::graph::ResultFormat,
    /// Run the query and print Oxigraph's plan instead of the results (JSON: the join order
    /// with the rows and time of each step), to see why a query is slow.
    #[arg(long)]
    pub explain: bool,
    /// Stop the query after this many seconds (0: no limit).
    #[arg(long, value_name = "SECONDS", value_parser = seconds, default_value_t = crate::graph::query::DEFAULT_TIMEOUT.as_secs_f64())]
    pub timeout: f64,
}

impl QueryArgs {
    /// `--timeout` as the library takes it (None: no limit).
    pub fn timeout(&self) -> Option<std::time::Duration> {
        limit(self.timeout)
    }

    /// The query: the argument, or the text of `--file`.
    pub fn sparql(&self) -> Result<String, GraphError> {
        match (&self.sparql, &self.file) {
            (Some(q), _) => Ok(q.clone()),
            (None, Some(f)) => std::fs::read_to_string(f).map_err(|source| GraphError::Read {
                path: f.clone(),
                source,
            }),
            (None, None) => Err(GraphError::Invalid("give a query or --file".into())),
        }
    }

    /// Run the query (or `--explain` it) onto `out`.
    pub fn run(&self, out: &mut dyn Write) -> Result<(), GraphError> {
        let sparql = self.sparql()?;
        match self.explain {
            true => super::query::explain(&self.store, &sparql, out, self.timeout())?,
            false => {
                super::run_query(&self.store, &sparql, self.format, out, self.timeout())?;
            }
        }
        Ok(out.flush()?)
    }
}

/// A time limit given in seconds, 0 meaning none.
pub fn limit(seconds: f64) -> Option<std::time::Duration> {
    (seconds > 0.0).then(|| std::time::Duration::from_secs_f64(seconds))
}

/// A non-negative, finite number of seconds (`30` or `30s`).
pub fn seconds(s: &str) -> Result<f64, String> {
    match s.strip_suffix('s').unwrap_or(s).parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds (0 or more)")),
    }
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Oxigraph store directory.
    #[arg(long, default_value = "work/store")]
    pub store: PathBuf,
    #[arg(long, value_enum)]
    pub format: crate::graph::ExportFormat,
    /// Output file (default: stdout); written atomically.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl ExportArgs {
    /// Export the store to `--out` (written atomically: a reader never sees half a file) or
    /// to stdout.
    pub fn run(&self) -> Result<ExportSummary, GraphError> {
        let export = |w: &mut dyn Write| -> Result<ExportSummary, GraphError> {
            let mut w = std::io::BufWriter::new(w);
            let summary = super::export(&self.store, self.format, &mut w)?;
            w.flush()?;
            Ok(summary)
        };
        match &self.out {
            Some(path) => {
                let mut summary = None;
                crate::atomic::write_with(path, |file| -> Result<(), GraphError> {
                    summary = Some(export(file)?);
                    Ok(())
                })
                // An I/O failure here is the file's (create, write, rename): name it.
                .map_err(|e| match e {
                    GraphError::Output(source) => crate::atomic::WriteError {
                        path: path.clone(),
                        source,
                    }
                    .into(),
                    other => other,
                })?;
                Ok(summary.expect("written"))
            }
            None => export(&mut std::io::stdout().lock()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::ExportFormat;

    fn export_args(store: PathBuf, out: Option<PathBuf>) -> ExportArgs {
        ExportArgs {
            store,
            format: ExportFormat::Nt,
            out,
        }
    }

    /// Each way an export or a query file fails is its own variant, naming the path.
    #[test]
    fn export_and_query_failures_name_what_failed() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        drop(oxigraph::store::Store::open(&store).unwrap());
        let a_file = dir.path().join("file");
        std::fs::write(&a_file, "").unwrap();
        let out = a_file.join("union.nt");
        let e = export_args(store.clone(), Some(out.clone()))
            .run()
            .unwrap_err();
        assert!(matches!(&e, GraphError::Write(w) if w.path == out), "{e}");
        let none = dir.path().join("none.nt");
        let e = export_args(dir.path().join("none"), Some(none.clone()))
            .run()
            .unwrap_err();
        assert!(matches!(e, GraphError::NoStore(_)), "{e}");
        assert!(!none.exists(), "a failed export leaves no file");
        let ok = dir.path().join("union.nt");
        let s = export_args(store.clone(), Some(ok.clone())).run().unwrap();
        assert_eq!((s.written, ok.is_file()), (0, true));
        let q = QueryArgs {
            store,
            sparql: None,
            file: Some(dir.path().join("missing.rq")),
            format: crate::graph::ResultFormat::Csv,
            explain: false,
            timeout: 1.0,
        };
        assert!(matches!(q.sparql(), Err(GraphError::Read { .. })));
    }
}

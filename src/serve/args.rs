//! `cbrrel serve`'s flags and the [`super::ServeConfig`] they make.

use std::path::PathBuf;

use clap::Args;

use crate::graph::args::{limit, seconds};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The store directory `cbrrel load` writes; the server reads the snapshot the load
    /// publishes after it (`<store>.snapshots/`).
    #[arg(long, default_value = "work/store")]
    pub store: PathBuf,
    /// Address to listen on. Loopback by default; any other address lets whoever reaches it
    /// query the whole store (read-only, no authentication).
    #[arg(long, default_value = crate::serve::DEFAULT_BIND)]
    pub bind: std::net::SocketAddr,
    /// A query's time limit in seconds, `30` or `30s` (0: none).
    #[arg(long, value_parser = seconds, default_value_t = crate::serve::DEFAULT_TIMEOUT.as_secs_f64())]
    pub timeout: f64,
    /// Rows one answer may hold; a larger answer is an error, never cut silently (0: no limit).
    #[arg(long, default_value_t = crate::serve::DEFAULT_MAX_RESULTS)]
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
    pub fn config(&self) -> crate::serve::ServeConfig {
        let mut c = crate::serve::ServeConfig::new(&self.store);
        c.bind = self.bind;
        c.timeout = limit(self.timeout);
        c.max_results = (self.max_results > 0).then_some(self.max_results);
        c.texts = self.texts.clone();
        c.queries_dir = self.queries.clone();
        if let Some(w) = self.workers {
            c.workers = w;
        }
        c
    }
}

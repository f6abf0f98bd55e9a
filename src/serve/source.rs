//! What the server reads: the store's current snapshot, opened read-only, and reopened when
//! the pointer names a new one.
//!
//! Every request asks [`Source::get`], which reads the pointer file (a few bytes) and, when it
//! names another snapshot than the open one, opens that one and swaps it in. A request holds
//! its snapshot by `Arc`, so one that started before the swap finishes on the old snapshot
//! (its files are kept by the publisher until the next publish but one); every request that
//! starts after the swap sees the new data. A query never sees a load half done: a snapshot is
//! a RocksDB checkpoint of a committed state, never written after it is published.
//!
//! No snapshot yet (a store loaded before `cbrrel serve` existed): the store directory itself
//! is opened read-only, with a warning — safe only while no `cbrrel load` runs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use oxigraph::model::Term;
use oxigraph::sparql::{QueryResults, SparqlEvaluator};
use oxigraph::store::Store;
use serde::Serialize;

use crate::graph::{snapshot, GraphError};

/// One opened snapshot (or the store itself).
pub struct Snapshot {
    pub path: PathBuf,
    pub store: Store,
    /// True when this is the live store directory (no snapshot published yet).
    pub live: bool,
    facts: OnceLock<Facts>,
}

/// What `/health` says about a snapshot (counted once per snapshot: the quad count is a scan).
#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    pub quads: usize,
    pub reports: usize,
    pub last_load: Option<String>,
    pub model: Option<String>,
}

impl Snapshot {
    fn open(path: &Path, live: bool) -> Result<Snapshot, GraphError> {
        Ok(Snapshot {
            path: path.to_owned(),
            store: crate::graph::store::open_read_only(path)?,
            live,
            facts: OnceLock::new(),
        })
    }

    /// Quads, reports, and the last extraction run (model id, time) the store graph records.
    pub fn facts(&self) -> Result<&Facts, GraphError> {
        if let Some(f) = self.facts.get() {
            return Ok(f);
        }
        let quads = self.store.len()?;
        let select = |q: &str| -> Result<Vec<Vec<Option<String>>>, GraphError> {
            let QueryResults::Solutions(s) = SparqlEvaluator::new()
                .parse_query(q)
                .map_err(|e| GraphError::Query(e.to_string()))?
                .on_store(&self.store)
                .execute()
                .map_err(|e| GraphError::Query(e.to_string()))?
            else {
                return Ok(Vec::new());
            };
            let vars = s.variables().to_vec();
            let mut rows = Vec::new();
            for row in s {
                let row = row.map_err(|e| GraphError::Query(e.to_string()))?;
                rows.push(
                    vars.iter()
                        .map(|v| {
                            row.get(v).map(|t| match t {
                                Term::Literal(l) => l.value().to_owned(),
                                t => t.to_string(),
                            })
                        })
                        .collect(),
                );
            }
            Ok(rows)
        };
        let run = select(
            "PREFIX cb: <https://w3id.org/cbrrel/ontology#> PREFIX prov: <http://www.w3.org/ns/prov#> \
             SELECT ?model ?time { GRAPH <https://w3id.org/cbrrel/graph/store> \
             { ?run cb:modelId ?model ; prov:endedAtTime ?time } } ORDER BY DESC(?time) LIMIT 1",
        )?;
        let reports = select(
            "PREFIX cb: <https://w3id.org/cbrrel/ontology#> \
             SELECT (COUNT(*) AS ?n) { GRAPH ?g { ?g cb:reportId ?id } }",
        )?;
        let reports = reports
            .first()
            .and_then(|r| r[0].as_ref())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let (model, last_load) = match run.into_iter().next() {
            Some(mut r) => (r[0].take(), r[1].take()),
            None => (None, None),
        };
        Ok(self.facts.get_or_init(|| Facts {
            quads,
            reports,
            last_load,
            model,
        }))
    }
}

/// The store directory and the snapshot open now.
pub struct Source {
    pub store_dir: PathBuf,
    current: Mutex<Arc<Snapshot>>,
}

impl Source {
    /// Open the current snapshot of the store at `store_dir` (or the store itself).
    pub fn open(store_dir: &Path) -> Result<Source, GraphError> {
        let snap = match snapshot::current(store_dir) {
            Some(p) => Snapshot::open(&p, false)?,
            None => {
                if !store_dir.exists() {
                    return Err(GraphError::NoStore(store_dir.to_owned()));
                }
                tracing::warn!(
                    "{}: no snapshot published yet ({} is missing); serving the store directory \
                     itself, read-only — safe only while no `cbrrel load` writes it. The next \
                     load publishes a snapshot and the server moves to it",
                    store_dir.display(),
                    snapshot::snapshots_dir(store_dir)
                        .join(snapshot::POINTER)
                        .display()
                );
                Snapshot::open(store_dir, true)?
            }
        };
        tracing::info!("reading {}", snap.path.display());
        Ok(Source {
            store_dir: store_dir.to_owned(),
            current: Mutex::new(Arc::new(snap)),
        })
    }

    /// The snapshot to answer one request on: the open one, or the newly published one.
    pub fn get(&self) -> Arc<Snapshot> {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(path) = snapshot::current(&self.store_dir) {
            if path != current.path {
                match Snapshot::open(&path, false) {
                    Ok(snap) => {
                        tracing::info!("new snapshot published: now reading {}", path.display());
                        *current = Arc::new(snap);
                    }
                    // Keep answering on the old one; the next request tries again.
                    Err(e) => tracing::error!("cannot open the new snapshot: {e}"),
                }
            }
        }
        current.clone()
    }
}

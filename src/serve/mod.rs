//! `cbrrel serve`: the store over the SPARQL 1.1 Protocol, and the clinician's page (issue 10).
//!
//! - `source`: what the server reads — the snapshot [`crate::graph::snapshot`] published last
//!   (checked per request, reopened when a load published a new one), or the store directory
//!   itself, with a warning, while none exists.
//! - `protocol`: the SPARQL 1.1 Protocol for queries (GET, POST form, POST
//!   `application/sparql-query`; `default-graph-uri` / `named-graph-uri`), content negotiation,
//!   status codes, UPDATE and SERVICE refused; the service description.
//! - `catalog`: the shipped questions of ontology/queries/*.rq, their comment and their VALUES
//!   variables as parameters, runnable by name with typed, escaped values.
//! - `texts`: report texts for the provenance view (the store holds spans, not texts).
//! - `routes`: the HTTP routes, the bounded query pool, request logs.
//! - `page`: the page at `/` (hand-written HTML, CSS, JS compiled into the binary).
//!
//! HTTP is axum on tokio; queries run on tokio's blocking threads, at most
//! [`ServeConfig::workers`] at a time with [`ServeConfig::queue`] more waiting (503 beyond),
//! each under [`ServeConfig::timeout`] (Oxigraph's cancellation token) and
//! [`ServeConfig::max_results`].

mod args;
mod catalog;
mod page;
mod protocol;
mod routes;
mod source;
mod texts;

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::graph::GraphError;

pub use args::ServeArgs;
pub use catalog::{Catalog, Param, ParamKind, ShippedQuery};

/// Where `cbrrel serve` listens unless told otherwise: loopback only.
pub const DEFAULT_BIND: &str = "127.0.0.1:7878";
/// A query's time limit unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Rows (solutions or triples) one answer may hold unless told otherwise.
pub const DEFAULT_MAX_RESULTS: usize = 100_000;
/// The largest request body accepted (a POSTed query): 1 MiB.
pub const DEFAULT_MAX_BODY: usize = 1 << 20;

/// Everything `cbrrel serve` is told.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The store directory `cbrrel load` writes; the server reads its published snapshots.
    pub store: PathBuf,
    /// Address to listen on; port 0 picks a free one ([`Server::local_addr`]).
    pub bind: SocketAddr,
    /// A query's time limit (None: none).
    pub timeout: Option<Duration>,
    /// Rows one answer may hold (None: no limit); past it the answer is an error.
    pub max_results: Option<usize>,
    /// The shipped questions: `*.rq` files of this folder; None: ontology/queries as compiled
    /// into the binary.
    pub queries_dir: Option<PathBuf>,
    /// Report texts for the provenance view: ingest's `reports.parquet` or CSV files with
    /// `report_id` and `text` columns. A text is shown only when its SHA-256 is the content
    /// hash the store holds for the report.
    pub texts: Vec<PathBuf>,
    /// Queries evaluated at once.
    pub workers: usize,
    /// Queries waiting for a worker; one more is answered 503.
    pub queue: usize,
    /// Largest request body, bytes (413 beyond).
    pub max_body: usize,
    /// Stop on SIGTERM and SIGINT (a test that runs servers in its own process says false).
    pub handle_signals: bool,
}

impl ServeConfig {
    /// The defaults for the store at `store`: loopback:7878, 30 s, 100,000 rows, the compiled-in
    /// queries, one worker per core (at least 2) and 64 waiting.
    pub fn new(store: impl Into<PathBuf>) -> ServeConfig {
        ServeConfig {
            store: store.into(),
            bind: DEFAULT_BIND.parse().expect("a valid address"),
            timeout: Some(DEFAULT_TIMEOUT),
            max_results: Some(DEFAULT_MAX_RESULTS),
            queries_dir: None,
            texts: Vec::new(),
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .max(2),
            queue: 64,
            max_body: DEFAULT_MAX_BODY,
            handle_signals: true,
        }
    }
}

/// What can stop `cbrrel serve` from starting or running. One line each, for the operator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The store (or its current snapshot) could not be opened.
    #[error("{0}")]
    Store(#[from] GraphError),
    #[error("queries {}: {message}", path.display())]
    Queries { path: PathBuf, message: String },
    #[error("report texts {}: {message}", path.display())]
    Texts { path: PathBuf, message: String },
    #[error("the server's runtime: {0}")]
    Runtime(std::io::Error),
}

/// A bound server: the port is taken, the store opened; [`Server::run`] answers requests.
pub struct Server {
    listener: TcpListener,
    state: Arc<routes::State>,
    stop: Arc<Notify>,
    config: ServeConfig,
}

/// Stops a running [`Server`] (gracefully: requests under way are answered first).
#[derive(Clone)]
pub struct StopHandle(Arc<Notify>);

impl StopHandle {
    pub fn stop(&self) {
        self.0.notify_one();
    }
}

impl Server {
    /// Open the store's current snapshot, read the queries and texts, and take the port.
    pub fn bind(config: ServeConfig) -> Result<Server, ServeError> {
        let catalog = match &config.queries_dir {
            None => Catalog::shipped(),
            Some(dir) => Catalog::from_dir(dir).map_err(|message| ServeError::Queries {
                path: dir.clone(),
                message,
            })?,
        };
        let texts = texts::Texts::read(&config.texts)?;
        let source = source::Source::open(&config.store)?;
        let listener = TcpListener::bind(config.bind).map_err(|source| ServeError::Bind {
            addr: config.bind,
            source,
        })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| ServeError::Bind {
                addr: config.bind,
                source,
            })?;
        let state = Arc::new(routes::State::new(&config, source, catalog, texts));
        Ok(Server {
            listener,
            state,
            stop: Arc::new(Notify::new()),
            config,
        })
    }

    /// The address it listens on (the port, when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// A handle that stops [`Server::run`] from another thread.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle(self.stop.clone())
    }

    /// Answer requests until SIGTERM or SIGINT (when [`ServeConfig::handle_signals`]) or
    /// [`StopHandle::stop`]; requests under way are finished first.
    pub fn run(self) -> Result<(), ServeError> {
        let addr = self.local_addr();
        if !addr.ip().is_loopback() {
            tracing::warn!(
                "listening on {addr}, not loopback: every host that reaches this address can \
                 query the whole store (no authentication, no TLS)"
            );
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(self.config.workers + 2)
            .thread_name("cbrrel-serve")
            .enable_all()
            .build()
            .map_err(ServeError::Runtime)?;
        let stop = self.stop.clone();
        let signals = self.config.handle_signals;
        runtime.block_on(async move {
            let listener =
                tokio::net::TcpListener::from_std(self.listener).map_err(ServeError::Runtime)?;
            tracing::info!(
                "serving {} on http://{addr}/ (SPARQL endpoint http://{addr}/sparql)",
                self.config.store.display()
            );
            let app = routes::router(self.state);
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown(stop, signals))
                .await
                .map_err(ServeError::Runtime)
        })?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Resolves on SIGTERM, SIGINT or a [`StopHandle::stop`].
async fn shutdown(stop: Arc<Notify>, signals: bool) {
    if !signals {
        stop.notified().await;
        return;
    }
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("cannot listen for SIGTERM/SIGINT; stop the server with SIGKILL");
        stop.notified().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: finishing the requests under way, then stopping"),
        _ = int.recv() => tracing::info!("SIGINT: finishing the requests under way, then stopping"),
        _ = stop.notified() => {}
    }
}

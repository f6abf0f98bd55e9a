//! The HTTP routes, the bounded query pool and the request log.
//!
//! | route | what |
//! | --- | --- |
//! | `GET /` | the clinician's page (`/assets/*` its script and style) |
//! | `GET, POST /sparql` | SPARQL 1.1 Protocol queries; without `query`, the service description |
//! | `GET /health` | store path, snapshot, quads, reports, last load time, model id |
//! | `GET /queries` | the shipped questions: name, description, parameters |
//! | `GET /queries/{name}?param=value` | one shipped question, run (content negotiated) |
//! | `GET /provenance?subject=…&object=…` | the reports and text spans behind one link |
//!
//! A query takes an admission slot (workers + queue; none left: 503 at once), then waits for
//! a worker (at most its time limit: 503 after), then runs on a blocking thread.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State as Shared};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use super::catalog::Catalog;
use super::page;
use super::protocol::{self, Limits, QueryRequest, Reply};
use super::source::Source;
use super::texts::{excerpt, Texts};
use super::ServeConfig;

/// What every request shares.
pub struct State {
    source: Source,
    catalog: Catalog,
    texts: Texts,
    limits: Limits,
    max_body: usize,
    admission: Arc<Semaphore>,
    workers: Arc<Semaphore>,
    queue_wait: Duration,
}

impl State {
    pub fn new(config: &ServeConfig, source: Source, catalog: Catalog, texts: Texts) -> State {
        let workers = config.workers.max(1);
        State {
            source,
            catalog,
            texts,
            limits: Limits {
                timeout: config.timeout.filter(|t| !t.is_zero()),
                max_results: config.max_results,
            },
            max_body: config.max_body,
            admission: Arc::new(Semaphore::new(workers + config.queue)),
            workers: Arc::new(Semaphore::new(workers)),
            queue_wait: config
                .timeout
                .filter(|t| !t.is_zero())
                .unwrap_or(super::DEFAULT_TIMEOUT),
        }
    }
}

type St = Arc<State>;

/// Rows of an answer, for the request log.
#[derive(Clone, Copy)]
struct Rows(usize);

pub fn router(state: St) -> Router {
    Router::new()
        .route("/", get(|| async { page::html("index.html") }))
        .route(
            "/assets/{file}",
            get(|Path(f): Path<String>| async move { page::asset(&f) }),
        )
        .route("/sparql", get(sparql_get).post(sparql_post))
        .route("/health", get(health))
        .route("/queries", get(queries))
        .route("/queries/{name}", get(shipped_query))
        .route("/provenance", get(provenance))
        .fallback(|| async { reply(Reply::error(404, "no such page; try / or /sparql")) })
        .layer(middleware::from_fn(log))
        .with_state(state)
}

/// One structured line per request: method, path, status, ms, rows.
async fn log(req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let t0 = Instant::now();
    let res = next.run(req).await;
    let rows = res.extensions().get::<Rows>().map(|r| r.0);
    tracing::info!(
        target: "cbrrel::serve::request",
        method = %method,
        path = %path,
        status = res.status().as_u16(),
        ms = format!("{:.1}", t0.elapsed().as_secs_f64() * 1e3),
        rows = rows,
    );
    res
}

fn reply(r: Reply) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = (status, [(header::CONTENT_TYPE, r.content_type)], r.body).into_response();
    if r.status == 503 {
        res.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    }
    if let Some(n) = r.rows {
        res.extensions_mut().insert(Rows(n));
    }
    res
}

fn params_of(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn accept(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Run `work` on a worker of the bounded pool.
async fn pooled(state: &St, work: impl FnOnce(&State) -> Reply + Send + 'static) -> Reply {
    let Ok(_slot) = state.admission.clone().try_acquire_owned() else {
        return Reply::error(
            503,
            "busy: every worker is running a query and the queue is full; try again in a moment",
        );
    };
    let worker = tokio::time::timeout(state.queue_wait, state.workers.clone().acquire_owned());
    let Ok(Ok(worker_slot)) = worker.await else {
        return Reply::error(
            503,
            "busy: no worker became free within the time limit; try again in a moment",
        );
    };
    let st = state.clone();
    // The worker slot goes with the thread: a query that outlives its answer (below) keeps it.
    let task = tokio::task::spawn_blocking(move || {
        let _held = worker_slot;
        work(&st)
    });
    // Oxigraph checks the cancellation token as it reads the store; an evaluation looping in
    // memory (a product of materialised sides) can run past it. The client is answered at the
    // limit all the same, and the thread's worker slot stays taken until it ends.
    let limit = state.limits.timeout.map(|t| t + Duration::from_secs(2));
    let joined = match limit {
        Some(l) => match tokio::time::timeout(l, task).await {
            Ok(j) => j,
            Err(_) => {
                tracing::warn!(
                    "a query ran past its time limit without reaching a cancellation point; its thread finishes in the background, holding a worker"
                );
                return Reply::error(
                    504,
                    format!(
                        "the query ran past this server's time limit ({} s, --timeout) and was cancelled; bind more of the pattern, or ask for less (LIMIT)",
                        state.limits.timeout.unwrap_or_default().as_secs_f64()
                    ),
                );
            }
        },
        None => task.await,
    };
    match joined {
        Ok(r) => r,
        Err(e) => Reply::error(500, format!("the query's thread failed: {e}")),
    }
}

async fn run_query(state: St, req: QueryRequest, accept: Option<String>) -> Response {
    let r = pooled(&state, move |st| {
        let snap = st.source.get();
        protocol::run(&snap, &req, accept.as_deref(), st.limits)
    })
    .await;
    reply(r)
}

fn endpoint_iri(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}/sparql")
}

async fn sparql_get(Shared(state): Shared<St>, uri: Uri, headers: HeaderMap) -> Response {
    match protocol::parse_params(&params_of(uri.query())) {
        Err(r) => reply(r),
        Ok(None) => (
            [(header::CONTENT_TYPE, "text/turtle; charset=utf-8")],
            protocol::service_description(&endpoint_iri(&headers)),
        )
            .into_response(),
        Ok(Some(req)) => run_query(state, req, accept(&headers)).await,
    }
}

async fn sparql_post(Shared(state): Shared<St>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let headers = parts.headers;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let too_large = |n: usize| {
        reply(Reply::error(
            413,
            format!("the request body is larger than this server's limit of {n} bytes"),
        ))
    };
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
    {
        if len > state.max_body {
            return too_large(state.max_body);
        }
    }
    let bytes: Bytes = match axum::body::to_bytes(Body::new(body), state.max_body).await {
        Ok(b) => b,
        Err(_) => return too_large(state.max_body),
    };
    let Ok(text) = String::from_utf8(bytes.to_vec()) else {
        return reply(Reply::error(400, "the request body is not UTF-8"));
    };
    let url_params = params_of(parts.uri.query());
    let parsed = match content_type.as_str() {
        "application/x-www-form-urlencoded" => {
            let mut all = params_of(Some(&text));
            all.extend(url_params);
            protocol::parse_params(&all)
        }
        "application/sparql-query" => {
            if url_params.iter().any(|(k, _)| k == "query") {
                Err(Reply::error(
                    400,
                    "a `query` parameter and a query body: send one of them",
                ))
            } else {
                let mut all = url_params;
                all.push(("query".into(), text));
                protocol::parse_params(&all)
            }
        }
        "application/sparql-update" => Err(Reply::error(
            403,
            "this endpoint is read-only: SPARQL Update is refused (the store changes only through `cbrrel load`)",
        )),
        other => Err(Reply::error(
            415,
            format!(
                "POST a query as application/x-www-form-urlencoded (query=…) or application/sparql-query, not `{other}`"
            ),
        )),
    };
    match parsed {
        Err(r) => reply(r),
        Ok(None) => reply(Reply::error(400, "no `query` parameter")),
        Ok(Some(req)) => run_query(state, req, accept(&headers)).await,
    }
}

async fn health(Shared(state): Shared<St>) -> Response {
    let st = state.clone();
    let r = tokio::task::spawn_blocking(move || {
        let snap = st.source.get();
        let facts = snap.facts();
        let mut v = json!({
            "status": if facts.is_ok() { "ok" } else { "error" },
            "store": st.source.store_dir.display().to_string(),
            "serving": snap.path.display().to_string(),
            "snapshot": !snap.live,
            "queries": st.catalog.list().count(),
            "report_texts": st.texts.len(),
            "timeout_s": st.limits.timeout.map(|t| t.as_secs_f64()),
            "max_results": st.limits.max_results,
            "busy": st.admission.available_permits() == 0,
        });
        match facts {
            Ok(f) => {
                v["quads"] = json!(f.quads);
                v["reports"] = json!(f.reports);
                v["last_load"] = json!(f.last_load);
                v["model"] = json!(f.model);
            }
            Err(e) => v["error"] = json!(e.to_string()),
        }
        if snap.live {
            v["warning"] = json!("no snapshot published yet: serving the store directory itself, safe only while no load runs");
        }
        let status = if v["status"] == "ok" { 200 } else { 500 };
        Reply {
            status,
            content_type: "application/json".into(),
            body: serde_json::to_vec_pretty(&v).unwrap_or_default(),
            rows: None,
        }
    })
    .await
    .unwrap_or_else(|e| Reply::error(500, e.to_string()));
    reply(r)
}

async fn queries(Shared(state): Shared<St>) -> Response {
    let list: Vec<Value> = state
        .catalog
        .list()
        .map(|q| {
            json!({
                "name": q.name,
                "description": q.description,
                "params": q.params,
                "url": format!("/queries/{}", q.name),
                "sparql": q.sparql,
            })
        })
        .collect();
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_vec_pretty(&list).unwrap_or_default(),
    )
        .into_response()
}

async fn shipped_query(
    Shared(state): Shared<St>,
    Path(name): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let name = name.trim_end_matches(".rq");
    let Some(q) = state.catalog.get(name) else {
        let names: Vec<&str> = state.catalog.list().map(|q| q.name.as_str()).collect();
        return reply(Reply::error(
            404,
            format!(
                "no shipped query `{name}`; the queries: {}",
                names.join(", ")
            ),
        ));
    };
    let args: Vec<(String, String)> = params_of(uri.query())
        .into_iter()
        .filter(|(k, _)| k != "_")
        .collect();
    let sparql = match q.with_args(&args) {
        Ok(s) => s,
        Err(e) => return reply(Reply::error(400, e)),
    };
    let req = QueryRequest {
        query: sparql,
        dataset: Default::default(),
    };
    run_query(state, req, accept(&headers)).await
}

/// The reports behind one link (reports_behind_link.rq), each with the sentence its mentions
/// come from when the report's text is known.
async fn provenance(Shared(state): Shared<St>, uri: Uri) -> Response {
    let args: Vec<(String, String)> = params_of(uri.query())
        .into_iter()
        .filter(|(k, _)| k == "subject" || k == "object")
        .collect();
    if args.len() != 2 || args[0].0 == args[1].0 {
        return reply(Reply::error(
            400,
            "give `subject` and `object`: the two normalised texts of the link",
        ));
    }
    let Some(q) = state.catalog.get("reports_behind_link") else {
        return reply(Reply::error(
            404,
            "reports_behind_link.rq is not among the queries",
        ));
    };
    let sparql = match q.with_args(&args) {
        Ok(s) => s,
        Err(e) => return reply(Reply::error(400, e)),
    };
    let r = pooled(&state, move |st| {
        let snap = st.source.get();
        let req = QueryRequest {
            query: sparql,
            dataset: Default::default(),
        };
        let rows = protocol::run(&snap, &req, Some("application/sparql-results+json"), st.limits);
        if rows.status != 200 {
            return rows;
        }
        let Ok(results) = serde_json::from_slice::<Value>(&rows.body) else {
            return Reply::error(500, "unreadable results");
        };
        let bindings = results["results"]["bindings"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let ids: Vec<String> = bindings
            .iter()
            .filter_map(|b| b["report_id"]["value"].as_str().map(str::to_owned))
            .collect();
        let hashes = content_hashes(&snap, &ids, st.limits);
        let span = |v: &Value| -> Option<(u64, u64)> {
            let (a, b) = v["value"].as_str()?.split_once('-')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        };
        let mut out = Vec::new();
        for b in &bindings {
            let id = b["report_id"]["value"].as_str().unwrap_or_default();
            let (s, o) = (span(&b["subject_span"]), span(&b["object_span"]));
            let text = st.texts.text(id, hashes.get(id).map(String::as_str));
            let ex = match (text, s, o) {
                (Some(t), Some(s), Some(o)) => excerpt(t, s, o),
                _ => None,
            };
            let note = if ex.is_some() {
                None
            } else if st.texts.len() == 0 {
                Some("report texts are not in the store (it holds spans and a content hash); start the server with --texts work/ingest/reports.parquet to see the sentence")
            } else if text.is_none() {
                Some("this report's text is not among the --texts files, or it changed since the extraction (content hash differs)")
            } else {
                Some("the spans fall outside the text")
            };
            let field = |k: &str| b[k]["value"].clone();
            out.push(json!({
                "report_id": id,
                "relation": field("relation"),
                "subject_span": s,
                "object_span": o,
                "confidence": field("confidence"),
                "model": field("model"),
                "time": field("time"),
                "excerpt": ex,
                "note": note,
            }));
        }
        let n = out.len();
        let subject = &args[0];
        let object = &args[1];
        let (subject, object) = if subject.0 == "subject" {
            (subject, object)
        } else {
            (object, subject)
        };
        Reply {
            status: 200,
            content_type: "application/json".into(),
            body: serde_json::to_vec_pretty(&json!({
                "subject": crate::graph::normalize(&subject.1),
                "object": crate::graph::normalize(&object.1),
                "rows": out,
            }))
            .unwrap_or_default(),
            rows: Some(n),
        }
    })
    .await;
    reply(r)
}

/// Report id → content hash, from the report graphs.
fn content_hashes(
    snap: &super::source::Snapshot,
    ids: &[String],
    limits: Limits,
) -> std::collections::HashMap<String, String> {
    if ids.is_empty() {
        return Default::default();
    }
    let values: Vec<String> = ids
        .iter()
        .map(|id| oxigraph::model::Literal::new_simple_literal(id).to_string())
        .collect();
    let query = format!(
        "PREFIX cb: <https://w3id.org/cbrrel/ontology#>\nSELECT ?id ?hash WHERE {{ VALUES ?id {{ {} }} GRAPH ?r {{ ?r cb:reportId ?id ; cb:contentHash ?hash }} }}",
        values.join(" ")
    );
    let req = QueryRequest {
        query,
        dataset: Default::default(),
    };
    let r = protocol::run(snap, &req, Some("application/sparql-results+json"), limits);
    let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    v["results"]["bindings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| {
            Some((
                b["id"]["value"].as_str()?.to_owned(),
                b["hash"]["value"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

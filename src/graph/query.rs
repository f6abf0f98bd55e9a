//! `cbrrel query`: SPARQL 1.1 over the store, read-only, results in the W3C formats.
//!
//! The store is opened read-only. The default graph is the union of all graphs, so an ad-hoc
//! question needs no GRAPH clause; but Oxigraph 0.5's union is a multiset over graphs (issue
//! #1919: one row per graph holding the triple), so the shipped queries scope every pattern to
//! its graph — `GRAPH ?report` for what a report asserts, the entities, counts and segments
//! graphs by name — and never rely on it. An UPDATE is refused before the store is opened.

use std::io::Write;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use clap::ValueEnum;
use oxigraph::io::RdfFormat;
use oxigraph::model::Term;
use oxigraph::sparql::results::{QueryResultsFormat, QueryResultsSerializer};
use oxigraph::sparql::{CancellationToken, QueryEvaluationError, QueryResults, SparqlEvaluator};
use unicode_width::UnicodeWidthStr;

use super::GraphError;

/// Output of `cbrrel query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ResultFormat {
    /// Aligned columns for a terminal.
    #[default]
    Table,
    /// SPARQL 1.1 Query Results CSV.
    Csv,
    /// SPARQL 1.1 Query Results TSV.
    Tsv,
    /// SPARQL 1.1 Query Results JSON.
    Json,
}

/// The default of `cbrrel query --timeout`: long enough for every shipped query on a large
/// store, short enough that a mistyped cartesian product gives the terminal back.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A query's time limit: a watchdog thread cancels Oxigraph's evaluation (its cancellation
/// token, checked as rows are produced) when the limit passes; dropping the watchdog (the
/// query finished) ends the thread at once.
struct Watchdog {
    limit: Duration,
    token: CancellationToken,
    _finished: Option<mpsc::Sender<()>>,
}

impl Watchdog {
    fn start(limit: Option<Duration>) -> Watchdog {
        let token = CancellationToken::new();
        let Some(limit) = limit.filter(|l| !l.is_zero()) else {
            return Watchdog {
                limit: Duration::ZERO,
                token,
                _finished: None,
            };
        };
        let (finished, wait) = mpsc::channel::<()>();
        let cancel = token.clone();
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(limit) {
                cancel.cancel();
            }
        });
        Watchdog {
            limit,
            token,
            _finished: Some(finished),
        }
    }

    fn evaluator(&self) -> SparqlEvaluator {
        SparqlEvaluator::new().with_cancellation_token(self.token.clone())
    }

    /// An evaluation error, or [`GraphError::Timeout`] when the watchdog stopped it.
    fn error(&self, e: QueryEvaluationError) -> GraphError {
        match e {
            QueryEvaluationError::Cancelled => GraphError::Timeout {
                seconds: self.limit.as_secs_f64(),
            },
            e => GraphError::Query(e.to_string()),
        }
    }
}

/// Parse a query, refusing updates with a clear message.
pub fn parse_read_only(sparql: &str) -> Result<oxigraph::sparql::PreparedSparqlQuery, GraphError> {
    parse_with(SparqlEvaluator::new(), sparql)
}

fn parse_with(
    evaluator: SparqlEvaluator,
    sparql: &str,
) -> Result<oxigraph::sparql::PreparedSparqlQuery, GraphError> {
    match evaluator.parse_query(sparql) {
        Ok(q) => Ok(q),
        Err(query_err) => {
            if SparqlEvaluator::new().parse_update(sparql).is_ok() {
                Err(GraphError::ReadOnly)
            } else {
                Err(GraphError::Query(query_err.to_string()))
            }
        }
    }
}

/// Run `sparql` on the store at `dir` and write the results to `out`. Returns the number of
/// solutions (or triples; 1 for ASK). `timeout` (None or zero: no limit) stops the evaluation
/// with [`GraphError::Timeout`].
pub fn run_query(
    dir: &Path,
    sparql: &str,
    format: ResultFormat,
    out: &mut dyn Write,
    timeout: Option<Duration>,
) -> Result<usize, GraphError> {
    let _ = parse_read_only(sparql)?;
    let store = super::store::open_read_only(dir)?;
    query_store(&store, sparql, format, out, timeout)
}

/// [`run_query`] on an open store (a server keeps one open; the benchmark times this).
pub fn query_store(
    store: &oxigraph::store::Store,
    sparql: &str,
    format: ResultFormat,
    out: &mut dyn Write,
    timeout: Option<Duration>,
) -> Result<usize, GraphError> {
    // Every W3C format, and CONSTRUCT / DESCRIBE (N-Triples whatever the format), stream
    // through the server's path; only the terminal table is `cbrrel query`'s own.
    if format != ResultFormat::Table || result_kind(sparql)? == ResultKind::Graph {
        let formats = WireFormats {
            results: Some(match format {
                ResultFormat::Csv => QueryResultsFormat::Csv,
                ResultFormat::Tsv => QueryResultsFormat::Tsv,
                _ => QueryResultsFormat::Json,
            }),
            graph: Some(RdfFormat::NTriples),
        };
        let dataset = RequestDataset::default();
        return answer(store, sparql, formats, &dataset, out, timeout, None).map(|a| a.rows);
    }
    let watchdog = Watchdog::start(timeout);
    let mut prepared = parse_with(watchdog.evaluator(), sparql)?;
    if prepared.dataset().is_default_dataset() {
        prepared.dataset_mut().set_default_graph_as_union();
    }
    let results = prepared
        .on_store(store)
        .execute()
        .map_err(|e| watchdog.error(e))?;
    let io = GraphError::Output;
    match results {
        QueryResults::Boolean(b) => {
            writeln!(out, "{b}").map_err(io)?;
            Ok(1)
        }
        QueryResults::Solutions(solutions) => {
            let vars = solutions.variables().to_vec();
            let mut rows: Vec<Vec<String>> = Vec::new();
            for s in solutions {
                let s = s.map_err(|e| watchdog.error(e))?;
                rows.push(
                    vars.iter()
                        .map(|v| s.get(v).map(cell).unwrap_or_default())
                        .collect(),
                );
            }
            let header: Vec<String> = vars.iter().map(|v| v.as_str().to_owned()).collect();
            write_table(out, &header, &rows).map_err(io)?;
            Ok(rows.len())
        }
        QueryResults::Graph(_) => unreachable!("graphs take the streaming path above"),
    }
}

/// What a SPARQL query returns, by its form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultKind {
    /// ASK.
    Boolean,
    /// SELECT.
    Solutions,
    /// CONSTRUCT and DESCRIBE.
    Graph,
}

/// The serializations a caller accepts for one query (the SPARQL protocol's negotiation):
/// `None` where no acceptable format exists for that kind of result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireFormats {
    /// For SELECT and ASK: JSON, XML, CSV or TSV.
    pub results: Option<QueryResultsFormat>,
    /// For CONSTRUCT and DESCRIBE: N-Triples, Turtle …
    pub graph: Option<RdfFormat>,
}

/// The dataset of a protocol request (`default-graph-uri`, `named-graph-uri`). Both empty: the
/// query's own FROM / FROM NAMED if it has any, else the union of all graphs as default graph
/// (as `cbrrel query`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestDataset {
    pub default_graphs: Vec<oxigraph::model::NamedNode>,
    pub named_graphs: Vec<oxigraph::model::NamedNode>,
}

/// How a query under [`answer`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerStatus {
    /// Every result was written.
    Complete,
    /// More than the limit: evaluation stopped at the first row past it and what was written is
    /// incomplete (the caller discards it and says so).
    TooManyResults,
    /// The caller accepts no format for this kind of result; nothing was written.
    NotAcceptable,
}

/// The outcome of [`answer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub kind: ResultKind,
    /// Solutions or triples written (1 for ASK).
    pub rows: usize,
    pub status: AnswerStatus,
}

/// The form of a read-only query without evaluating it (SELECT, ASK → results; CONSTRUCT,
/// DESCRIBE → a graph). Errors as [`parse_read_only`].
pub fn result_kind(sparql: &str) -> Result<ResultKind, GraphError> {
    let _ = parse_read_only(sparql)?;
    Ok(
        match spargebra::SparqlParser::new()
            .parse_query(sparql)
            .map_err(|e| GraphError::Query(e.to_string()))?
        {
            spargebra::Query::Select { .. } => ResultKind::Solutions,
            spargebra::Query::Ask { .. } => ResultKind::Boolean,
            spargebra::Query::Construct { .. } | spargebra::Query::Describe { .. } => {
                ResultKind::Graph
            }
        },
    )
}

/// [`query_store`] for a server: the caller's formats (every W3C results format and the RDF
/// formats for graphs), the protocol's dataset, and a limit on the rows written as well as on
/// the time (`timeout`: [`GraphError::Timeout`], as `cbrrel query`). `cbrrel query`'s functions
/// are unchanged.
pub fn answer(
    store: &oxigraph::store::Store,
    sparql: &str,
    formats: WireFormats,
    dataset: &RequestDataset,
    out: &mut dyn Write,
    timeout: Option<Duration>,
    max_results: Option<usize>,
) -> Result<Answer, GraphError> {
    let kind = result_kind(sparql)?;
    let not_acceptable = Answer {
        kind,
        rows: 0,
        status: AnswerStatus::NotAcceptable,
    };
    match kind {
        ResultKind::Graph if formats.graph.is_none() => return Ok(not_acceptable),
        ResultKind::Boolean | ResultKind::Solutions if formats.results.is_none() => {
            return Ok(not_acceptable)
        }
        _ => {}
    }
    let watchdog = Watchdog::start(timeout);
    let mut prepared = parse_with(watchdog.evaluator(), sparql)?;
    if !dataset.default_graphs.is_empty() || !dataset.named_graphs.is_empty() {
        let d = prepared.dataset_mut();
        d.set_default_graph(
            dataset
                .default_graphs
                .iter()
                .cloned()
                .map(Into::into)
                .collect(),
        );
        d.set_available_named_graphs(
            dataset
                .named_graphs
                .iter()
                .cloned()
                .map(Into::into)
                .collect(),
        );
    } else if prepared.dataset().is_default_dataset() {
        prepared.dataset_mut().set_default_graph_as_union();
    }
    let results = prepared
        .on_store(store)
        .execute()
        .map_err(|e| watchdog.error(e))?;
    let io = GraphError::Output;
    let limit = max_results.unwrap_or(usize::MAX);
    let mut status = AnswerStatus::Complete;
    let rows = match results {
        QueryResults::Boolean(b) => {
            QueryResultsSerializer::from_format(formats.results.expect("checked above"))
                .serialize_boolean_to_writer(&mut *out, b)
                .map_err(io)?;
            1
        }
        QueryResults::Solutions(solutions) => {
            let vars = solutions.variables().to_vec();
            let mut ser =
                QueryResultsSerializer::from_format(formats.results.expect("checked above"))
                    .serialize_solutions_to_writer(&mut *out, vars)
                    .map_err(io)?;
            let n = write_limited(solutions, limit, &watchdog, &mut status, |s| {
                ser.serialize(&s)
            })?;
            ser.finish().map_err(io)?;
            n
        }
        QueryResults::Graph(triples) => {
            let mut ser =
                oxigraph::io::RdfSerializer::from_format(formats.graph.expect("checked above"))
                    .with_prefix("cb", "https://w3id.org/cbrrel/ontology#")
                    .map_err(|e| GraphError::Query(e.to_string()))?
                    .for_writer(&mut *out);
            let n = write_limited(triples, limit, &watchdog, &mut status, |t| {
                ser.serialize_triple(&t)
            })?;
            ser.finish().map_err(io)?;
            n
        }
    };
    Ok(Answer { kind, rows, status })
}

/// Write each item of an answer with `write` until `limit`; one more item marks the answer
/// [`AnswerStatus::TooManyResults`] (never cut silently). Returns the items written.
fn write_limited<T>(
    items: impl Iterator<Item = Result<T, QueryEvaluationError>>,
    limit: usize,
    watchdog: &Watchdog,
    status: &mut AnswerStatus,
    mut write: impl FnMut(T) -> std::io::Result<()>,
) -> Result<usize, GraphError> {
    let mut n = 0;
    for item in items {
        let item = item.map_err(|e| watchdog.error(e))?;
        if n == limit {
            *status = AnswerStatus::TooManyResults;
            break;
        }
        write(item)?;
        n += 1;
    }
    Ok(n)
}

/// Run `sparql` on the store at `dir` with statistics and write Oxigraph's plan as JSON: each
/// step of the evaluation with the rows it produced and the time it took (the join order the
/// optimiser chose). The results are consumed, not printed.
pub fn explain(
    dir: &Path,
    sparql: &str,
    out: &mut dyn Write,
    timeout: Option<Duration>,
) -> Result<(), GraphError> {
    let watchdog = Watchdog::start(timeout);
    let mut prepared = parse_with(watchdog.evaluator(), sparql)?;
    let store = super::store::open_read_only(dir)?;
    prepared.dataset_mut().set_default_graph_as_union();
    let (results, explanation) = prepared.on_store(&store).compute_statistics().explain();
    match results.map_err(|e| watchdog.error(e))? {
        QueryResults::Solutions(s) => {
            for row in s {
                row.map_err(|e| watchdog.error(e))?;
            }
        }
        QueryResults::Graph(t) => {
            for row in t {
                row.map_err(|e| watchdog.error(e))?;
            }
        }
        QueryResults::Boolean(_) => {}
    }
    explanation.write_in_json(&mut *out)?;
    writeln!(out)?;
    Ok(())
}

/// A term as a person reads it: literal values bare, IRIs in angle brackets.
fn cell(t: &Term) -> String {
    match t {
        Term::Literal(l) => l.value().to_owned(),
        Term::NamedNode(n) => format!("<{}>", n.as_str()),
        other => other.to_string(),
    }
}

fn write_table(
    out: &mut dyn Write,
    header: &[String],
    rows: &[Vec<String>],
) -> std::io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.width()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.width());
        }
    }
    let line = |cells: &[String], out: &mut dyn Write| -> std::io::Result<()> {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.width())))
            .collect();
        writeln!(out, "{}", padded.join("  ").trim_end())
    };
    line(header, out)?;
    writeln!(
        out,
        "{}",
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("  ")
    )?;
    for r in rows {
        line(r, out)?;
    }
    writeln!(out, "({} rows)", rows.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxigraph::model::{GraphNameRef, NamedNode, QuadRef};
    use oxigraph::store::Store;

    #[test]
    fn a_query_past_its_time_limit_is_stopped_with_a_timeout_error() {
        let store = Store::new().unwrap();
        let nodes: Vec<NamedNode> = (0..200)
            .map(|i| NamedNode::new(format!("http://example.org/n{i}")).unwrap())
            .collect();
        let p = NamedNode::new("http://example.org/p").unwrap();
        for pair in nodes.windows(2) {
            store
                .insert(QuadRef::new(
                    &pair[0],
                    &p,
                    &pair[1],
                    GraphNameRef::DefaultGraph,
                ))
                .unwrap();
        }
        // 199³ ≈ 7.9 M rows: seconds of work, stopped after 0.2 s.
        let cartesian = "SELECT * { ?a ?p ?b . ?c ?q ?d . ?e ?r ?f }";
        let started = std::time::Instant::now();
        let err = query_store(
            &store,
            cartesian,
            ResultFormat::Csv,
            &mut std::io::sink(),
            Some(Duration::from_millis(200)),
        )
        .unwrap_err();
        assert!(matches!(err, GraphError::Timeout { .. }), "{err:?}");
        assert!(
            err.to_string().contains("ran past its time limit (0.2 s)"),
            "{err}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the watchdog did not stop it"
        );
        // Under the limit, the same store answers.
        let n = query_store(
            &store,
            "SELECT * { ?a ?p ?b }",
            ResultFormat::Csv,
            &mut std::io::sink(),
            Some(Duration::from_secs(60)),
        )
        .unwrap();
        assert_eq!(n, 199);
    }
}

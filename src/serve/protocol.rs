//! The SPARQL 1.1 Protocol for queries, independent of the HTTP library: a request's
//! parameters → a query and its dataset; `Accept` → formats; a query on a snapshot → a reply
//! (status, content type, body, rows).
//!
//! Status codes: 200; 400 a malformed query (the parser's message), a SERVICE clause, a bad
//! graph IRI, a query without `query`, or an answer past the result limit; 403 SPARQL Update
//! (this endpoint is read-only); 406 no acceptable format; 413 a body past the limit; 415 a
//! POST of another content type; 503 every worker busy and the queue full; 504 the query ran
//! past its time limit (cancelled; the server goes on); 500 anything else.

use std::time::Duration;

use oxigraph::io::RdfFormat;
use oxigraph::model::NamedNode;
use oxigraph::sparql::results::QueryResultsFormat;

use crate::graph::query::{answer, AnswerStatus, RequestDataset, ResultKind, WireFormats};
use crate::graph::GraphError;

use super::source::Snapshot;

/// A query and its dataset, as a protocol request gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryRequest {
    pub query: String,
    pub dataset: RequestDataset,
}

/// An HTTP answer, before it is an HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    /// Rows of a successful answer (for the request log).
    pub rows: Option<usize>,
}

impl Reply {
    pub fn error(status: u16, message: impl Into<String>) -> Reply {
        let mut body = message.into().into_bytes();
        body.push(b'\n');
        Reply {
            status,
            content_type: "text/plain; charset=utf-8".into(),
            body,
            rows: None,
        }
    }
}

/// The protocol's parameters (from the URL's query string or a urlencoded body) → a query, or
/// None when there is no `query` (the service description is asked). `update` is refused.
pub fn parse_params(pairs: &[(String, String)]) -> Result<Option<QueryRequest>, Reply> {
    let mut query = None;
    let mut dataset = RequestDataset::default();
    for (k, v) in pairs {
        match k.as_str() {
            "query" if query.is_some() => {
                return Err(Reply::error(400, "more than one `query` parameter"))
            }
            "query" => query = Some(v.clone()),
            "update" | "using-graph-uri" | "using-named-graph-uri" => {
                return Err(read_only());
            }
            "default-graph-uri" => dataset.default_graphs.push(graph_iri(v)?),
            "named-graph-uri" => dataset.named_graphs.push(graph_iri(v)?),
            _ => {} // other parameters (a cache breaker, YASGUI's own) are ignored
        }
    }
    match query {
        Some(query) => Ok(Some(QueryRequest { query, dataset })),
        None if dataset != RequestDataset::default() => Err(Reply::error(
            400,
            "default-graph-uri / named-graph-uri without a `query` parameter",
        )),
        None => Ok(None),
    }
}

fn graph_iri(v: &str) -> Result<NamedNode, Reply> {
    NamedNode::new(v).map_err(|e| Reply::error(400, format!("graph IRI <{v}>: {e}")))
}

fn read_only() -> Reply {
    Reply::error(
        403,
        "this endpoint is read-only: it answers SELECT, ASK, CONSTRUCT and DESCRIBE; SPARQL Update \
         (INSERT, DELETE, LOAD, CLEAR, CREATE, DROP …) is refused — the store changes only \
         through `cbrrel load`",
    )
}

/// Media types offered for SELECT/ASK results, the server's preference first.
const RESULT_TYPES: [(&str, QueryResultsFormat); 7] = [
    ("application/sparql-results+json", QueryResultsFormat::Json),
    ("application/json", QueryResultsFormat::Json),
    ("application/sparql-results+xml", QueryResultsFormat::Xml),
    ("application/xml", QueryResultsFormat::Xml),
    ("text/csv", QueryResultsFormat::Csv),
    ("text/tab-separated-values", QueryResultsFormat::Tsv),
    ("text/xml", QueryResultsFormat::Xml),
];
/// Media types offered for CONSTRUCT/DESCRIBE, the server's preference first.
const GRAPH_TYPES: [(&str, RdfFormat); 3] = [
    ("text/turtle", RdfFormat::Turtle),
    ("application/n-triples", RdfFormat::NTriples),
    ("text/plain", RdfFormat::NTriples),
];

/// The best offered type for an `Accept` header (absent: anything), if any is acceptable.
fn best<'a, T: Copy>(accept: Option<&str>, offered: &[(&'a str, T)]) -> Option<(&'a str, T)> {
    let ranges: Vec<(String, f32)> = accept
        .unwrap_or("*/*")
        .split(',')
        .filter_map(|part| {
            let mut it = part.split(';');
            let range = it.next()?.trim().to_ascii_lowercase();
            let mut q = 1.0f32;
            for p in it {
                if let Some(v) = p.trim().strip_prefix("q=") {
                    q = v.trim().parse().unwrap_or(0.0);
                }
            }
            (!range.is_empty()).then_some((range, q))
        })
        .collect();
    let quality = |mime: &str| -> f32 {
        // The most specific range that matches decides (RFC 9110 §12.5.1).
        let (kind, _) = mime.split_once('/').unwrap_or((mime, ""));
        let mut found: Option<(u8, f32)> = None;
        for (r, q) in &ranges {
            let spec = if r == mime {
                3
            } else if r.strip_suffix("/*") == Some(kind) {
                2
            } else if r == "*/*" {
                1
            } else {
                continue;
            };
            if found.is_none_or(|(s, _)| spec > s) {
                found = Some((spec, *q));
            }
        }
        found.map(|(_, q)| q).unwrap_or(0.0)
    };
    let mut choice: Option<((&str, T), f32)> = None;
    for &(mime, f) in offered {
        let q = quality(mime);
        if q > 0.0 && choice.is_none_or(|(_, best)| q > best) {
            choice = Some(((mime, f), q));
        }
    }
    choice.map(|(c, _)| c)
}

/// Limits of one query.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub timeout: Option<Duration>,
    pub max_results: Option<usize>,
}

/// Whether the query calls SERVICE (refused: this endpoint calls no other host; Oxigraph is
/// built without its HTTP client, so it could not anyway). Read from the parsed algebra.
fn uses_service(query: &str) -> bool {
    let Ok(q) = spargebra::SparqlParser::new().parse_query(query) else {
        return false;
    };
    let sse = q.to_sse();
    // `(service` outside string literals.
    let mut in_string = false;
    let mut escaped = false;
    let b = sse.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else if c == b'"' {
            in_string = true;
        } else if c == b'(' && sse[i + 1..].starts_with("service ") {
            return true;
        }
    }
    false
}

/// Run `req` on `snap` and serialize as `accept` asks.
pub fn run(snap: &Snapshot, req: &QueryRequest, accept: Option<&str>, limits: Limits) -> Reply {
    let kind = match crate::graph::query::result_kind(&req.query) {
        Ok(k) => k,
        Err(GraphError::ReadOnly) => return read_only(),
        Err(e) => return Reply::error(400, format!("malformed query: {}", strip_prefix(&e))),
    };
    if uses_service(&req.query) {
        return Reply::error(
            400,
            "SERVICE is refused: this endpoint queries its own store only and calls no other host",
        );
    }
    let results = best(accept, &RESULT_TYPES);
    let graph = best(accept, &GRAPH_TYPES);
    let content_type = match kind {
        ResultKind::Graph => graph.map(|g| g.0),
        _ => results.map(|r| r.0),
    };
    let Some(content_type) = content_type else {
        let offered: Vec<&str> = match kind {
            ResultKind::Graph => GRAPH_TYPES.iter().map(|t| t.0).collect(),
            _ => RESULT_TYPES.iter().map(|t| t.0).collect(),
        };
        return Reply::error(
            406,
            format!(
                "no acceptable format for this query's results in Accept: {}; offered: {}",
                accept.unwrap_or(""),
                offered.join(", ")
            ),
        );
    };
    let formats = WireFormats {
        results: results.map(|r| r.1),
        graph: graph.map(|g| g.1),
    };
    let mut body = Vec::new();
    match answer(
        &snap.store,
        &req.query,
        formats,
        &req.dataset,
        &mut body,
        limits.timeout,
        limits.max_results,
    ) {
        Ok(a) => match a.status {
            AnswerStatus::Complete => Reply {
                status: 200,
                content_type: format!("{content_type}; charset=utf-8"),
                body,
                rows: Some(a.rows),
            },
            AnswerStatus::TooManyResults => Reply::error(
                400,
                format!(
                    "the query has more than {} results, this server's limit (--max-results); add a LIMIT, or narrow the query (a VALUES row, a FILTER)",
                    limits.max_results.unwrap_or(0)
                ),
            ),
            AnswerStatus::NotAcceptable => Reply::error(406, "no acceptable format"),
        },
        Err(GraphError::Timeout { seconds }) => Reply::error(
            504,
            format!(
                "the query ran past this server's time limit ({seconds} s, --timeout) and was cancelled; bind more of the pattern, or ask for less (LIMIT)"
            ),
        ),
        Err(GraphError::ReadOnly) => read_only(),
        Err(e) => Reply::error(500, format!("the query failed: {}", strip_prefix(&e))),
    }
}

fn strip_prefix(e: &GraphError) -> String {
    let s = e.to_string();
    s.strip_prefix("SPARQL: ").unwrap_or(&s).to_owned()
}

/// The SPARQL 1.1 Service Description of the endpoint at `endpoint` (Turtle).
pub fn service_description(endpoint: &str) -> String {
    let results: Vec<String> = [
        "SPARQL_Results_JSON",
        "SPARQL_Results_XML",
        "SPARQL_Results_CSV",
        "SPARQL_Results_TSV",
        "Turtle",
        "N-Triples",
    ]
    .iter()
    .map(|f| format!("<http://www.w3.org/ns/formats/{f}>"))
    .collect();
    format!(
        "@prefix sd: <http://www.w3.org/ns/sparql-service-description#> .\n\
         @prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n\n\
         [] a sd:Service ;\n\
         \x20 rdfs:label \"cbrrel: coronary angiography knowledge graph (read-only)\"@en , \"cbrrel 冠脉造影知识图谱（只读）\"@zh ;\n\
         \x20 sd:endpoint <{endpoint}> ;\n\
         \x20 sd:supportedLanguage sd:SPARQL11Query ;\n\
         \x20 sd:feature sd:UnionDefaultGraph ;\n\
         \x20 sd:resultFormat {} ;\n\
         \x20 sd:defaultDataset [ a sd:Dataset ; sd:defaultGraph [ a sd:Graph ; rdfs:comment \"the union of all graphs\" ] ] .\n",
        results.join(" , ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers_choose_the_best_offered_format() {
        let r = |a: Option<&str>| best(a, &RESULT_TYPES).map(|x| x.0);
        assert_eq!(r(None), Some("application/sparql-results+json"));
        assert_eq!(r(Some("*/*")), Some("application/sparql-results+json"));
        assert_eq!(r(Some("text/csv")), Some("text/csv"));
        assert_eq!(
            r(Some(
                "application/sparql-results+xml;q=0.9, text/tab-separated-values"
            )),
            Some("text/tab-separated-values")
        );
        assert_eq!(
            r(Some("text/*;q=0.5, text/csv;q=0")),
            Some("text/tab-separated-values")
        );
        assert_eq!(r(Some("image/png")), None);
        let g = |a: Option<&str>| best(a, &GRAPH_TYPES).map(|x| x.0);
        assert_eq!(
            g(Some("application/n-triples")),
            Some("application/n-triples")
        );
        assert_eq!(g(Some("application/sparql-results+json")), None);
    }

    #[test]
    fn service_is_found_in_the_algebra_not_in_strings() {
        assert!(uses_service(
            "SELECT * { SERVICE <http://example.org/sparql> { ?s ?p ?o } }"
        ));
        assert!(!uses_service("SELECT * { ?s ?p \"(service x\" }"));
    }

    #[test]
    fn parameters_make_a_request_and_updates_are_refused() {
        let p = |v: &[(&str, &str)]| {
            parse_params(
                &v.iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(p(&[]), Ok(None));
        let r = p(&[("query", "ASK {}"), ("default-graph-uri", "http://g")])
            .unwrap()
            .unwrap();
        assert_eq!(r.dataset.default_graphs.len(), 1);
        assert_eq!(p(&[("update", "CLEAR ALL")]).unwrap_err().status, 403);
        assert_eq!(
            p(&[("query", "ASK {}"), ("named-graph-uri", "not an iri")])
                .unwrap_err()
                .status,
            400
        );
    }
}

//! The SHACL subset that ontology/shapes.ttl uses, checked with SPARQL over an Oxigraph store.
//!
//! Oxigraph has no SHACL engine and the shapes are simple, so each constraint becomes one
//! SPARQL query returning its violations (over the union of the graphs): targets
//! `sh:targetClass` and `sh:targetSubjectsOf`; on the node `sh:class`; on a property (`sh:path`
//! an IRI) `sh:class`, `sh:datatype`, `sh:minCount`, `sh:maxCount`. `sh:class` is checked
//! against explicit `rdf:type` only (no subclass reasoning): the graph stage types every node
//! with each class a shape may ask for. A shape using anything else is an error, not a skip,
//! so a shape edited beyond the subset cannot silently check nothing.

use oxigraph::io::{RdfFormat, RdfParser};
use oxigraph::model::Term;
use oxigraph::sparql::{QueryResults, SparqlEvaluator};
use oxigraph::store::Store;

const SH: &str = "http://www.w3.org/ns/shacl#";

/// One constraint violation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub shape: String,
    pub focus: String,
    pub message: String,
}

/// One constraint, compiled to a query.
#[derive(Debug, Clone)]
struct Check {
    shape: String,
    message: String,
    /// SELECT ?focus … returning the violating focus nodes.
    query: String,
}

/// Shapes compiled from a shapes graph.
#[derive(Debug, Clone)]
pub struct Shapes {
    checks: Vec<Check>,
}

/// Run a SELECT over the union of `store`'s graphs: one row of bindings per solution, in the
/// query's variable order.
pub(crate) fn select(store: &Store, q: &str) -> Result<Vec<Vec<Option<Term>>>, String> {
    let mut prepared = SparqlEvaluator::new().parse_query(q).map_err(|e| format!("{e}: {q}"))?;
    prepared.dataset_mut().set_default_graph_as_union();
    match prepared.on_store(store).execute().map_err(|e| e.to_string())? {
        QueryResults::Solutions(sols) => {
            let vars: Vec<_> = sols.variables().to_vec();
            let mut rows = Vec::new();
            for s in sols {
                let s = s.map_err(|e| e.to_string())?;
                rows.push(vars.iter().map(|v| s.get(v).cloned()).collect());
            }
            Ok(rows)
        }
        _ => Err("expected SELECT results".into()),
    }
}

fn iri(t: &Option<Term>) -> Option<String> {
    match t {
        Some(Term::NamedNode(n)) => Some(n.as_str().to_owned()),
        _ => None,
    }
}

impl Shapes {
    /// Parse shapes (Turtle) and compile their constraints.
    pub fn parse(turtle: &str) -> Result<Shapes, String> {
        let shapes = Store::new().map_err(|e| e.to_string())?;
        shapes.load_from_reader(RdfParser::from_format(RdfFormat::Turtle), turtle.as_bytes()).map_err(|e| format!("shapes: {e}"))?;
        let known = ["targetClass", "targetSubjectsOf", "class", "property", "path", "datatype", "minCount", "maxCount"];
        for row in select(&shapes, &format!("SELECT DISTINCT ?p WHERE {{ ?s ?p ?o FILTER(STRSTARTS(STR(?p), \"{SH}\")) }}"))? {
            let p = iri(&row[0]).unwrap_or_default();
            if !known.iter().any(|k| p == format!("{SH}{k}")) {
                return Err(format!("shapes use {p}, outside the SHACL subset cbrrel checks"));
            }
        }
        let mut checks = Vec::new();
        let node_shapes = select(&shapes, &format!(
            "PREFIX sh: <{SH}> SELECT ?shape ?tc ?ts ?cls WHERE {{ ?shape a sh:NodeShape . OPTIONAL {{ ?shape sh:targetClass ?tc }} OPTIONAL {{ ?shape sh:targetSubjectsOf ?ts }} OPTIONAL {{ ?shape sh:class ?cls }} }} ORDER BY ?shape"
        ))?;
        for row in node_shapes {
            let shape = iri(&row[0]).ok_or("a node shape must be an IRI")?;
            let target = match (iri(&row[1]), iri(&row[2])) {
                (Some(c), None) => format!("?focus a <{c}> ."),
                (None, Some(p)) => format!("?focus <{p}> ?_any ."),
                _ => return Err(format!("{shape}: needs exactly one sh:targetClass or sh:targetSubjectsOf")),
            };
            if let Some(c) = iri(&row[3]) {
                checks.push(Check {
                    shape: shape.clone(),
                    message: format!("focus node is not a <{c}>"),
                    query: format!("SELECT DISTINCT ?focus WHERE {{ {target} FILTER NOT EXISTS {{ ?focus a <{c}> }} }}"),
                });
            }
            let props = select(&shapes, &format!(
                "PREFIX sh: <{SH}> SELECT ?path ?cls ?dt ?min ?max WHERE {{ <{shape}> sh:property ?p . ?p sh:path ?path . OPTIONAL {{ ?p sh:class ?cls }} OPTIONAL {{ ?p sh:datatype ?dt }} OPTIONAL {{ ?p sh:minCount ?min }} OPTIONAL {{ ?p sh:maxCount ?max }} }}"
            ))?;
            for p in props {
                let path = iri(&p[0]).ok_or_else(|| format!("{shape}: sh:path must be an IRI"))?;
                if let Some(c) = iri(&p[1]) {
                    checks.push(Check {
                        shape: shape.clone(),
                        message: format!("a value of <{path}> is not a <{c}>"),
                        query: format!("SELECT DISTINCT ?focus WHERE {{ {target} ?focus <{path}> ?v . FILTER NOT EXISTS {{ ?v a <{c}> }} }}"),
                    });
                }
                if let Some(d) = iri(&p[2]) {
                    checks.push(Check {
                        shape: shape.clone(),
                        message: format!("a value of <{path}> is not a literal of type <{d}>"),
                        query: format!(
                            "SELECT DISTINCT ?focus WHERE {{ {target} ?focus <{path}> ?v . FILTER(!isLiteral(?v) || datatype(?v) != <{d}>) }}"
                        ),
                    });
                }
                let count = |t: &Option<Term>| match t {
                    Some(Term::Literal(l)) => l.value().parse::<u64>().ok(),
                    _ => None,
                };
                if let Some(n) = count(&p[3]) {
                    checks.push(Check {
                        shape: shape.clone(),
                        message: format!("fewer than {n} values of <{path}>"),
                        query: format!("SELECT ?focus WHERE {{ {{ SELECT DISTINCT ?focus WHERE {{ {target} }} }} OPTIONAL {{ ?focus <{path}> ?v }} }} GROUP BY ?focus HAVING (COUNT(DISTINCT ?v) < {n})"),
                    });
                }
                if let Some(n) = count(&p[4]) {
                    checks.push(Check {
                        shape: shape.clone(),
                        message: format!("more than {n} values of <{path}>"),
                        query: format!("SELECT ?focus WHERE {{ {target} ?focus <{path}> ?v }} GROUP BY ?focus HAVING (COUNT(DISTINCT ?v) > {n})"),
                    });
                }
            }
        }
        if checks.is_empty() {
            return Err("the shapes define no constraint".into());
        }
        Ok(Shapes { checks })
    }

    pub fn len(&self) -> usize {
        self.checks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.checks.is_empty()
    }

    /// Every violation in `store` (union of its graphs).
    pub fn validate(&self, store: &Store) -> Result<Vec<Violation>, String> {
        let mut out = Vec::new();
        for c in &self.checks {
            for row in select(store, &c.query)? {
                let focus = row[0].as_ref().map(|t| t.to_string()).unwrap_or_default();
                out.push(Violation { shape: c.shape.clone(), focus, message: c.message.clone() });
            }
        }
        Ok(out)
    }
}

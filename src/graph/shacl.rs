//! The SHACL subset that ontology/shapes.ttl uses: parsed into constraints, and checked by the
//! reference evaluator here (one SPARQL query per constraint over an Oxigraph store).
//!
//! The load does not run these queries: [`super::validate`] evaluates the same constraints in
//! Rust over the quads as they are built (issue 8: the SPARQL pass was most of the gap to
//! Oxigraph's bulk loader). This evaluator stays as the independent implementation the Rust
//! one is tested against, on good and bad graphs (tests in validate.rs).
//!
//! The subset: targets `sh:targetClass` and `sh:targetSubjectsOf`; on the node `sh:class`; on a
//! property (`sh:path` an IRI) `sh:class`, `sh:datatype`, `sh:minCount`, `sh:maxCount`,
//! `sh:pattern`. `sh:class` is checked against explicit `rdf:type` only (no subclass
//! reasoning): the graph stage types every node with each class a shape may ask for. A shape
//! using anything else is an error, not a skip, so a shape edited beyond the subset cannot
//! silently check nothing.

use oxigraph::io::{RdfFormat, RdfParser};
use oxigraph::model::{NamedNode, Term};
use oxigraph::sparql::{QueryResults, SparqlEvaluator};
use oxigraph::store::Store;

const SH: &str = "http://www.w3.org/ns/shacl#";

/// One constraint violation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Violation {
    pub shape: String,
    pub focus: String,
    pub message: String,
}

/// The focus nodes of a shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Class(NamedNode),
    SubjectsOf(NamedNode),
}

/// What a constraint asks of each focus node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// The focus node has this rdf:type.
    NodeClass(NamedNode),
    /// Every value of `path` has this rdf:type.
    Class { path: NamedNode, class: NamedNode },
    /// Every value of `path` is a literal of this datatype.
    Datatype {
        path: NamedNode,
        datatype: NamedNode,
    },
    /// At least `n` distinct values of `path`.
    MinCount { path: NamedNode, n: u64 },
    /// At most `n` distinct values of `path`.
    MaxCount { path: NamedNode, n: u64 },
    /// Every value of `path` is a literal or IRI whose string matches the regex.
    Pattern { path: NamedNode, pattern: String },
}

/// One constraint of one shape.
#[derive(Debug, Clone)]
pub struct Constraint {
    pub shape: String,
    pub target: Target,
    pub rule: Rule,
    pub message: String,
}

/// Shapes compiled from a shapes graph.
#[derive(Debug, Clone)]
pub struct Shapes {
    pub constraints: Vec<Constraint>,
}

/// Run a SELECT over the union of `store`'s graphs: one row of bindings per solution, in the
/// query's variable order.
pub(crate) fn select(store: &Store, q: &str) -> Result<Vec<Vec<Option<Term>>>, String> {
    let mut prepared = SparqlEvaluator::new()
        .parse_query(q)
        .map_err(|e| format!("{e}: {q}"))?;
    prepared.dataset_mut().set_default_graph_as_union();
    match prepared
        .on_store(store)
        .execute()
        .map_err(|e| e.to_string())?
    {
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

fn iri(t: &Option<Term>) -> Option<NamedNode> {
    match t {
        Some(Term::NamedNode(n)) => Some(n.clone()),
        _ => None,
    }
}

impl Shapes {
    /// Parse shapes (Turtle) into constraints.
    pub fn parse(turtle: &str) -> Result<Shapes, String> {
        let shapes = Store::new().map_err(|e| e.to_string())?;
        shapes
            .load_from_reader(RdfParser::from_format(RdfFormat::Turtle), turtle.as_bytes())
            .map_err(|e| format!("shapes: {e}"))?;
        let known = [
            "targetClass",
            "targetSubjectsOf",
            "class",
            "property",
            "path",
            "datatype",
            "minCount",
            "maxCount",
            "pattern",
        ];
        for row in select(
            &shapes,
            &format!(
                "SELECT DISTINCT ?p WHERE {{ ?s ?p ?o FILTER(STRSTARTS(STR(?p), \"{SH}\")) }}"
            ),
        )? {
            let p = iri(&row[0]).map(|n| n.into_string()).unwrap_or_default();
            if !known.iter().any(|k| p == format!("{SH}{k}")) {
                return Err(format!(
                    "shapes use {p}, outside the SHACL subset cbrrel checks"
                ));
            }
        }
        let mut constraints = Vec::new();
        let node_shapes = select(&shapes, &format!(
            "PREFIX sh: <{SH}> SELECT ?shape ?tc ?ts ?cls WHERE {{ ?shape a sh:NodeShape . OPTIONAL {{ ?shape sh:targetClass ?tc }} OPTIONAL {{ ?shape sh:targetSubjectsOf ?ts }} OPTIONAL {{ ?shape sh:class ?cls }} }} ORDER BY ?shape"
        ))?;
        for row in node_shapes {
            let shape = iri(&row[0])
                .ok_or("a node shape must be an IRI")?
                .into_string();
            let target = match (iri(&row[1]), iri(&row[2])) {
                (Some(c), None) => Target::Class(c),
                (None, Some(p)) => Target::SubjectsOf(p),
                _ => {
                    return Err(format!(
                        "{shape}: needs exactly one sh:targetClass or sh:targetSubjectsOf"
                    ))
                }
            };
            let mut push = |rule: Rule, message: String| {
                constraints.push(Constraint {
                    shape: shape.clone(),
                    target: target.clone(),
                    rule,
                    message,
                })
            };
            if let Some(c) = iri(&row[3]) {
                push(
                    Rule::NodeClass(c.clone()),
                    format!("focus node is not a <{}>", c.as_str()),
                );
            }
            let props = select(&shapes, &format!(
                "PREFIX sh: <{SH}> SELECT ?path ?cls ?dt ?min ?max ?pat WHERE {{ <{shape}> sh:property ?p . ?p sh:path ?path . OPTIONAL {{ ?p sh:class ?cls }} OPTIONAL {{ ?p sh:datatype ?dt }} OPTIONAL {{ ?p sh:minCount ?min }} OPTIONAL {{ ?p sh:maxCount ?max }} OPTIONAL {{ ?p sh:pattern ?pat }} }} ORDER BY ?path"
            ))?;
            for p in props {
                let path = iri(&p[0]).ok_or_else(|| format!("{shape}: sh:path must be an IRI"))?;
                let ps = path.as_str().to_owned();
                if let Some(c) = iri(&p[1]) {
                    let message = format!("a value of <{ps}> is not a <{}>", c.as_str());
                    push(
                        Rule::Class {
                            path: path.clone(),
                            class: c,
                        },
                        message,
                    );
                }
                if let Some(d) = iri(&p[2]) {
                    let message = format!(
                        "a value of <{ps}> is not a literal of type <{}>",
                        d.as_str()
                    );
                    push(
                        Rule::Datatype {
                            path: path.clone(),
                            datatype: d,
                        },
                        message,
                    );
                }
                let count = |t: &Option<Term>| match t {
                    Some(Term::Literal(l)) => l.value().parse::<u64>().ok(),
                    _ => None,
                };
                if let Some(n) = count(&p[3]) {
                    push(
                        Rule::MinCount {
                            path: path.clone(),
                            n,
                        },
                        format!("fewer than {n} values of <{ps}>"),
                    );
                }
                if let Some(n) = count(&p[4]) {
                    push(
                        Rule::MaxCount {
                            path: path.clone(),
                            n,
                        },
                        format!("more than {n} values of <{ps}>"),
                    );
                }
                if let Some(Term::Literal(l)) = &p[5] {
                    regex::Regex::new(l.value())
                        .map_err(|e| format!("{shape}: sh:pattern {:?}: {e}", l.value()))?;
                    push(
                        Rule::Pattern {
                            path: path.clone(),
                            pattern: l.value().to_owned(),
                        },
                        format!("a value of <{ps}> does not match {:?}", l.value()),
                    );
                }
            }
        }
        if constraints.is_empty() {
            return Err("the shapes define no constraint".into());
        }
        Ok(Shapes { constraints })
    }

    pub fn len(&self) -> usize {
        self.constraints.len()
    }

    pub fn is_empty(&self) -> bool {
        self.constraints.is_empty()
    }

    /// Every violation in `store` (union of its graphs), one SPARQL query per constraint.
    pub fn validate_store(&self, store: &Store) -> Result<Vec<Violation>, String> {
        let mut out = Vec::new();
        for c in &self.constraints {
            for row in select(store, &c.query())? {
                let focus = row[0].as_ref().map(|t| t.to_string()).unwrap_or_default();
                out.push(Violation {
                    shape: c.shape.clone(),
                    focus,
                    message: c.message.clone(),
                });
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

impl Constraint {
    /// SELECT DISTINCT ?focus … returning the violating focus nodes.
    pub fn query(&self) -> String {
        let target = match &self.target {
            Target::Class(c) => format!("?focus a <{}> .", c.as_str()),
            Target::SubjectsOf(p) => format!("?focus <{}> ?_any .", p.as_str()),
        };
        match &self.rule {
            Rule::NodeClass(c) => format!("SELECT DISTINCT ?focus WHERE {{ {target} FILTER NOT EXISTS {{ ?focus a <{}> }} }}", c.as_str()),
            Rule::Class { path, class } => format!(
                "SELECT DISTINCT ?focus WHERE {{ {target} ?focus <{}> ?v . FILTER NOT EXISTS {{ ?v a <{}> }} }}",
                path.as_str(),
                class.as_str()
            ),
            Rule::Datatype { path, datatype } => format!(
                "SELECT DISTINCT ?focus WHERE {{ {target} ?focus <{}> ?v . FILTER(!isLiteral(?v) || datatype(?v) != <{}>) }}",
                path.as_str(),
                datatype.as_str()
            ),
            Rule::MinCount { path, n } => format!(
                "SELECT ?focus WHERE {{ {{ SELECT DISTINCT ?focus WHERE {{ {target} }} }} OPTIONAL {{ ?focus <{}> ?v }} }} GROUP BY ?focus HAVING (COUNT(DISTINCT ?v) < {n})",
                path.as_str()
            ),
            Rule::MaxCount { path, n } => format!(
                "SELECT ?focus WHERE {{ {target} ?focus <{}> ?v }} GROUP BY ?focus HAVING (COUNT(DISTINCT ?v) > {n})",
                path.as_str()
            ),
            Rule::Pattern { path, pattern } => format!(
                "SELECT DISTINCT ?focus WHERE {{ {target} ?focus <{}> ?v . FILTER(isBlank(?v) || isTRIPLE(?v) || !REGEX(STR(?v), \"{}\")) }}",
                path.as_str(),
                pattern.replace('\\', "\\\\").replace('"', "\\\"")
            ),
        }
    }
}

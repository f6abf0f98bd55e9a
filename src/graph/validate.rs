//! The shapes of ontology/shapes.ttl checked in Rust over the quads a load is about to write
//! (issue 8 §1: validation out of the per-chunk SPARQL pass and into the RDF builder).
//!
//! The constraints are the ones [`Shapes::parse`] reads from the published shapes file, so the
//! contract stays one file; this evaluator sorts the batch once by subject, path and value and
//! answers every constraint from that list. Semantics match the SPARQL reference in shacl.rs
//! exactly — union of the graphs, explicit `rdf:type` only, distinct values — and a test runs
//! both on the same good and bad graphs.
//!
//! A batch must contain what its class constraints look at — the entity nodes its relations
//! use, the extraction run, the segment concepts — or find their types in [`KnownTypes`]. A
//! load checks first what several reports share (each entity's description, once, in the
//! first chunk that has it; the runs; the concepts, once), then each report graph as a batch
//! of its own, in parallel, looking those types up. That split finds what one batch finds
//! because every constraint of the shapes is about one node and its own values, and a report
//! graph holds all of its nodes' quads (the report, its provenance nodes) while the entities'
//! quads a report graph holds (the asserted triples) are checked value by value; a test checks
//! the split against one batch on every good and bad graph.

use std::cmp::Ordering;

use oxigraph::model::vocab::rdf;
use oxigraph::model::{NamedNode, NamedOrBlankNode, Quad, Term, TermRef};
use regex::Regex;
use rustc_hash::FxHashMap as HashMap;

use super::shacl::{Constraint, Rule, Shapes, Target, Violation};

/// One quad of the batch, by reference (no term is copied: a load checks every quad it writes,
/// and copying them made validation a third of the load's time).
#[derive(Clone, Copy)]
struct Entry<'a> {
    s: TermRef<'a>,
    p: &'a str,
    o: TermRef<'a>,
}

/// A total order on terms, for sorting the batch: by kind, then by their strings. Only
/// equality has to agree with RDF term equality (distinct values are counted after the sort).
fn term_cmp(a: TermRef<'_>, b: TermRef<'_>) -> Ordering {
    fn kind(t: TermRef<'_>) -> u8 {
        match t {
            TermRef::NamedNode(_) => 0,
            TermRef::BlankNode(_) => 1,
            TermRef::Literal(_) => 2,
            TermRef::Triple(_) => 3,
        }
    }
    match (a, b) {
        (TermRef::NamedNode(x), TermRef::NamedNode(y)) => x.as_str().cmp(y.as_str()),
        (TermRef::BlankNode(x), TermRef::BlankNode(y)) => x.as_str().cmp(y.as_str()),
        (TermRef::Literal(x), TermRef::Literal(y)) => x
            .value()
            .cmp(y.value())
            .then_with(|| x.datatype().as_str().cmp(y.datatype().as_str()))
            .then_with(|| x.language().cmp(&y.language())),
        (TermRef::Triple(x), TermRef::Triple(y)) => {
            term_cmp(x.subject.as_ref().into(), y.subject.as_ref().into())
                .then_with(|| x.predicate.as_str().cmp(y.predicate.as_str()))
                .then_with(|| term_cmp(x.object.as_ref(), y.object.as_ref()))
        }
        _ => kind(a).cmp(&kind(b)),
    }
}

/// The batch as one sorted list: by subject, then path, then value, each (subject, path,
/// value) once (a graph is a set, but a batch may be the union of several). A subject's
/// quads are one run of the list, its values of a path one run inside it: everything a
/// constraint asks is a binary search or a scan of a short run, with no hash map per node.
struct Index<'a, 'k> {
    entries: Vec<Entry<'a>>,
    /// Types of nodes outside the batch (checked before it).
    known: &'k KnownTypes,
}

impl<'a, 'k> Index<'a, 'k> {
    fn new(quads: impl IntoIterator<Item = &'a Quad>, known: &'k KnownTypes) -> Index<'a, 'k> {
        let mut entries: Vec<Entry<'a>> = quads
            .into_iter()
            .map(|q| Entry {
                s: q.subject.as_ref().into(),
                p: q.predicate.as_str(),
                o: q.object.as_ref(),
            })
            .collect();
        entries.sort_unstable_by(|a, b| {
            term_cmp(a.s, b.s)
                .then_with(|| a.p.cmp(b.p))
                .then_with(|| term_cmp(a.o, b.o))
        });
        entries.dedup_by(|a, b| a.s == b.s && a.p == b.p && a.o == b.o);
        Index { entries, known }
    }

    /// The run of `node`'s quads (empty when the batch has none).
    fn quads_of(&self, node: TermRef<'_>) -> &[Entry<'a>] {
        let lo = self
            .entries
            .partition_point(|e| term_cmp(e.s, node) == Ordering::Less);
        let len = self.entries[lo..]
            .iter()
            .take_while(|e| e.s == node)
            .count();
        &self.entries[lo..lo + len]
    }

    fn has_type(&self, node: TermRef<'_>, class: &NamedNode) -> bool {
        let c: TermRef<'_> = class.as_ref().into();
        type_in(self.quads_of(node), c)
            || match node {
                TermRef::NamedNode(n) => self
                    .known
                    .get(n.as_str())
                    .is_some_and(|t| t.contains(class)),
                _ => false,
            }
    }
}

/// Whether one subject's run says `rdf:type class`.
fn type_in(run: &[Entry<'_>], class: TermRef<'_>) -> bool {
    values(run, rdf::TYPE.as_str()).any(|v| v == class)
}

/// The distinct values of `path` in one subject's run (sorted by path: a scan of a handful).
fn values<'r, 'a>(run: &'r [Entry<'a>], path: &'r str) -> impl Iterator<Item = TermRef<'a>> + 'r {
    run.iter().filter(move |e| e.p == path).map(|e| e.o)
}

/// The classes of nodes checked earlier, by IRI: what a batch's class constraints may look up
/// outside the batch (a load checks its chunks one at a time).
pub type KnownTypes = HashMap<String, Vec<NamedNode>>;

/// Add the `rdf:type`s among `quads` to `known`.
pub fn remember_types<'a>(known: &mut KnownTypes, quads: impl IntoIterator<Item = &'a Quad>) {
    for q in quads {
        if let (NamedOrBlankNode::NamedNode(s), Term::NamedNode(c)) = (&q.subject, &q.object) {
            if q.predicate.as_ref() == rdf::TYPE {
                let types = known.entry(s.as_str().to_owned()).or_default();
                if !types.contains(c) {
                    types.push(c.clone());
                }
            }
        }
    }
}

/// The shapes, ready to check many batches: patterns compiled once, and the constraints
/// found from a subject's predicates and types (a load checks each report on its own, a
/// hundred thousand small batches, so nothing may cost per batch what it can cost once).
pub struct Validator {
    constraints: Vec<Constraint>,
    /// The compiled `sh:pattern` of each constraint that has one.
    patterns: Vec<Option<Regex>>,
    /// Constraints by the predicate of their `sh:targetSubjectsOf`.
    by_predicate: HashMap<String, Vec<usize>>,
    /// Constraints by the class of their `sh:targetClass`.
    by_class: HashMap<String, Vec<usize>>,
}

impl Validator {
    pub fn new(shapes: &Shapes) -> Validator {
        let mut v = Validator {
            constraints: shapes.constraints.clone(),
            patterns: Vec::new(),
            by_predicate: HashMap::default(),
            by_class: HashMap::default(),
        };
        for (i, c) in v.constraints.iter().enumerate() {
            v.patterns.push(match &c.rule {
                Rule::Pattern { pattern, .. } => {
                    Some(Regex::new(pattern).expect("checked by Shapes::parse"))
                }
                _ => None,
            });
            let (map, key) = match &c.target {
                Target::Class(class) => (&mut v.by_class, class),
                Target::SubjectsOf(p) => (&mut v.by_predicate, p),
            };
            map.entry(key.as_str().to_owned()).or_default().push(i);
        }
        v
    }

    /// Every violation of the shapes in `quads` (the union of their graphs), sorted. A class
    /// constraint that finds no type in the batch also looks in `known` (nodes the batch
    /// points at and an earlier batch checked). Focus nodes are only the batch's.
    pub fn check<'a>(
        &self,
        quads: impl IntoIterator<Item = &'a Quad>,
        known: &KnownTypes,
    ) -> Vec<Violation> {
        let ix = Index::new(quads, known);
        let mut out = Vec::new();
        let mut focus_of: Vec<usize> = Vec::new();
        for run in ix.entries.chunk_by(|a, b| a.s == b.s) {
            let node = run[0].s;
            // The constraints this node is a focus of: one per distinct predicate
            // (targetSubjectsOf) and one per type (targetClass). Each constraint has one
            // target, and a run holds each (predicate, value) once, so none comes twice.
            focus_of.clear();
            for same_p in run.chunk_by(|a, b| a.p == b.p) {
                let p = same_p[0].p;
                focus_of.extend(self.by_predicate.get(p).into_iter().flatten());
                if p == rdf::TYPE.as_str() {
                    for e in same_p {
                        if let TermRef::NamedNode(c) = e.o {
                            focus_of.extend(self.by_class.get(c.as_str()).into_iter().flatten());
                        }
                    }
                }
            }
            for &i in &focus_of {
                let c = &self.constraints[i];
                let bad = match &c.rule {
                    Rule::NodeClass(class) => !ix.has_type(node, class),
                    Rule::Class { path, class } => {
                        values(run, path.as_str()).any(|v| !ix.has_type(v, class))
                    }
                    Rule::Datatype { path, datatype } => values(run, path.as_str()).any(
                        |v| !matches!(v, TermRef::Literal(l) if l.datatype() == datatype.as_ref()),
                    ),
                    Rule::MinCount { path, n } => (values(run, path.as_str()).count() as u64) < *n,
                    Rule::MaxCount { path, n } => (values(run, path.as_str()).count() as u64) > *n,
                    Rule::Pattern { path, .. } => {
                        let re = self.patterns[i].as_ref().expect("compiled in new");
                        values(run, path.as_str()).any(|v| match v {
                            TermRef::Literal(l) => !re.is_match(l.value()),
                            TermRef::NamedNode(n) => !re.is_match(n.as_str()),
                            _ => true,
                        })
                    }
                };
                if bad {
                    out.push(Violation {
                        shape: c.shape.clone(),
                        focus: Term::from(node).to_string(),
                        message: c.message.clone(),
                    });
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

/// Every violation of `shapes` in `quads` (the union of their graphs).
pub fn validate_quads<'a>(
    shapes: &Shapes,
    quads: impl IntoIterator<Item = &'a Quad>,
) -> Vec<Violation> {
    Validator::new(shapes).check(quads, &KnownTypes::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::Schema;
    use crate::graph::entity::{concept_quads, entity_quads};
    use crate::graph::rdf::tests::{bpsy, input};
    use crate::graph::rdf::{report_graph, run_quads, Provenance, RunInfo, Vocabulary};
    use crate::graph::segments::SegmentTable;
    use crate::graph::SHAPES_TTL;
    use oxigraph::io::{RdfFormat, RdfParser};
    use oxigraph::store::Store;

    /// A good batch: two reports, their entities, the run, the segment concepts.
    fn good() -> Vec<Quad> {
        let vocab = Vocabulary::from_schema(&Schema::casmed()).unwrap();
        let table = SegmentTable::default_table();
        let run = RunInfo {
            model_id: "m".into(),
            ended_at: "2026-11-25T02:00:00Z".into(),
        };
        let mut quads = run_quads(&run, &vocab);
        quads.extend(concept_quads(&table, &vocab));
        for (id, bp, sy) in [
            ("A", "前降支近段", "狭窄90%"),
            ("B", "LAD近段", "70-80%狭窄"),
        ] {
            let r = report_graph(
                &input(id, vec![bpsy(bp, sy, 0)]),
                &run,
                &vocab,
                Provenance::Rdf12,
            )
            .unwrap();
            for e in r.entities.keys() {
                quads.extend(entity_quads(e, &vocab, &table).unwrap().0);
            }
            quads.extend(r.quads);
        }
        quads
    }

    fn reference(shapes: &Shapes, quads: &[Quad]) -> Vec<Violation> {
        let store = Store::new().unwrap();
        store.extend(quads.iter().cloned()).unwrap();
        shapes.validate_store(&store).unwrap()
    }

    fn edit(quads: &[Quad], trig: &str, remove: &dyn Fn(&Quad) -> bool) -> Vec<Quad> {
        let mut out: Vec<Quad> = quads.iter().filter(|q| !remove(q)).cloned().collect();
        let extra = RdfParser::from_format(RdfFormat::TriG)
            .for_slice(trig.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        out.extend(extra);
        out
    }

    /// The Rust evaluator and the SPARQL reference agree on a good graph and on each kind of
    /// bad graph the shapes reject.
    #[test]
    fn rust_checks_agree_with_the_sparql_shapes() {
        let shapes = Shapes::parse(SHAPES_TTL).unwrap();
        let good = good();
        assert_eq!(validate_quads(&shapes, &good), vec![]);
        assert_eq!(reference(&shapes, &good), vec![]);
        let cb = "https://w3id.org/cbrrel/ontology#";
        let r = "https://w3id.org/cbrrel/data/report/A";
        let bp = crate::graph::rdf::entity_iri("Bp", "前降支近段").into_string();
        let sy = crate::graph::rdf::entity_iri("Sy", "狭窄90%").into_string();
        let none = |_: &Quad| false;
        let pred =
            |local: &'static str| move |q: &Quad| q.predicate.as_str() == format!("{cb}{local}");
        let cases: Vec<(&str, Vec<Quad>)> = vec![
            // Domain: a finding whose subject is not a body part.
            ("domain", edit(&good, &format!("<{r}> {{ <{sy}> <{cb}hasFinding> <{sy}> . }}"), &none)),
            // Range: a body part with a body part as finding.
            ("range", edit(&good, &format!("<{r}> {{ <{bp}> <{cb}hasFinding> <{bp}> . }}"), &none)),
            // Datatype: confidence as a string.
            ("datatype", edit(&good, &format!("<{r}> {{ <{r}/x> <http://www.w3.org/1999/02/22-rdf-syntax-ns#reifies> <<( <{bp}> <{cb}hasFinding> <{sy}> )>> ; <{cb}confidence> \"high\" ; <{cb}spans> \"0-5 10-15\" . }}"), &none)),
            // Required property missing: no spans on any provenance node.
            ("minCount", edit(&good, "", &pred("spans"))),
            // Two content hashes on one report.
            ("maxCount", edit(&good, &format!("<{r}> {{ <{r}> <{cb}contentHash> \"other\" . }}"), &none)),
            // A span that is not start-end.
            ("pattern", edit(&good, &format!("<{r}> {{ <{r}/y> <http://www.w3.org/1999/02/22-rdf-syntax-ns#reifies> <<( <{bp}> <{cb}hasFinding> <{sy}> )>> ; <{cb}confidence> 0.5e0 ; <{cb}spans> \"zero to five 10-15\" . }}"), &none)),
            // A stenosis value that is not a decimal.
            ("value datatype", edit(&good, &format!("<https://w3id.org/cbrrel/graph/entities> {{ <{sy}> <{cb}stenosisMax> \"90%\" . }}"), &pred("stenosisMax"))),
            // A segment link to something that is not a segment concept.
            ("segment class", edit(&good, &format!("<https://w3id.org/cbrrel/graph/entities> {{ <{bp}> <{cb}segment> <{sy}> . }}"), &none)),
            // A report whose run is missing (the run's quads are not in the batch).
            ("run class", edit(&good, "", &|q: &Quad| q.subject.to_string().contains("/run/"))),
        ];
        // As a load checks them: what is not a report graph (entities, concepts, runs) in one
        // batch, then each report graph alone, knowing only the first batch's types. The
        // same violations as one batch.
        let in_batches = |quads: &[Quad]| -> Vec<Violation> {
            let shared = |q: &Quad| !q.graph_name.to_string().contains("/data/report/");
            let validator = Validator::new(&shapes);
            let mut known = KnownTypes::default();
            let mut out = validator.check(quads.iter().filter(|q| shared(q)), &known);
            remember_types(&mut known, quads.iter().filter(|q| shared(q)));
            let graphs: std::collections::BTreeSet<String> = quads
                .iter()
                .filter(|q| !shared(q))
                .map(|q| q.graph_name.to_string())
                .collect();
            for g in &graphs {
                out.extend(validator.check(
                    quads.iter().filter(|q| q.graph_name.to_string() == *g),
                    &known,
                ));
            }
            out.sort();
            out.dedup();
            out
        };
        assert_eq!(in_batches(&good), vec![]);
        let reports = good
            .iter()
            .map(|q| q.graph_name.to_string())
            .filter(|g| g.contains("/data/report/"))
            .collect::<std::collections::BTreeSet<_>>();
        assert_eq!(reports.len(), 2, "the good graph's two reports split apart");
        for (what, quads) in cases {
            let rust = validate_quads(&shapes, &quads);
            assert_eq!(
                in_batches(&quads),
                rust,
                "{what}: checked report by report, the checks disagree with one batch"
            );
            assert!(
                !rust.is_empty(),
                "{what}: the Rust checks accept a bad graph"
            );
            assert_eq!(
                rust,
                reference(&shapes, &quads),
                "{what}: the Rust checks and the SPARQL shapes disagree"
            );
        }
    }
}

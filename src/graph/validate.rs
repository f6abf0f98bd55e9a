//! The shapes of ontology/shapes.ttl checked in Rust over the quads a load is about to write
//! (issue 8 §1: validation out of the per-chunk SPARQL pass and into the RDF builder).
//!
//! The constraints are the ones [`Shapes::parse`] reads from the published shapes file, so the
//! contract stays one file; this evaluator indexes the batch once (types, values per subject
//! and path, subjects per predicate) and answers every constraint from the index. Semantics
//! match the SPARQL reference in shacl.rs exactly — union of the graphs, explicit `rdf:type`
//! only, distinct values — and a test runs both on the same good and bad graphs.
//!
//! A batch must contain what its class constraints look at — the entity nodes its relations
//! use (the load describes every entity of the batch, stored or not), the extraction run, the
//! segment concepts — or find their types in [`KnownTypes`]: a load checks each entity's
//! description and the concepts in the first chunk that has them, and later chunks look the
//! types up there ([`validate_quads_with`]; a test checks that two batches so split find
//! what one batch finds).

use oxigraph::model::vocab::rdf;
use oxigraph::model::{NamedNode, NamedNodeRef, NamedOrBlankNode, Quad, Term, TermRef};
use rayon::prelude::*;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use super::shacl::{Rule, Shapes, Target, Violation};

/// The batch, indexed by reference (no term is copied: a load validates every quad it writes,
/// and copying them made validation a third of the load's time): types per node, distinct
/// values per (node, path), subjects per path.
struct Index<'a, 'k> {
    types: HashMap<TermRef<'a>, HashSet<NamedNodeRef<'a>>>,
    /// Types of nodes outside the batch (checked before it).
    known: &'k KnownTypes,
    values: HashMap<TermRef<'a>, HashMap<&'a str, Vec<TermRef<'a>>>>,
    subjects_of: HashMap<&'a str, HashSet<TermRef<'a>>>,
}

impl<'a, 'k> Index<'a, 'k> {
    fn new(quads: impl IntoIterator<Item = &'a Quad>, known: &'k KnownTypes) -> Index<'a, 'k> {
        let mut ix = Index {
            types: HashMap::default(),
            known,
            values: HashMap::default(),
            subjects_of: HashMap::default(),
        };
        for q in quads {
            let s: TermRef<'a> = q.subject.as_ref().into();
            let o = q.object.as_ref();
            if q.predicate.as_ref() == rdf::TYPE {
                if let TermRef::NamedNode(c) = o {
                    ix.types.entry(s).or_default().insert(c);
                }
            }
            // Distinct values (a graph is a set, but the batch is the union of several): a
            // node has a handful of values per path, so a scan beats a set.
            let vs = ix
                .values
                .entry(s)
                .or_default()
                .entry(q.predicate.as_str())
                .or_default();
            if !vs.contains(&o) {
                vs.push(o);
            }
            ix.subjects_of
                .entry(q.predicate.as_str())
                .or_default()
                .insert(s);
        }
        ix
    }

    fn has_type(&self, node: TermRef<'_>, class: &NamedNode) -> bool {
        self.types
            .get(&node)
            .is_some_and(|t| t.contains(&class.as_ref()))
            || match node {
                TermRef::NamedNode(n) => self
                    .known
                    .get(n.as_str())
                    .is_some_and(|t| t.contains(class)),
                _ => false,
            }
    }

    /// The focus nodes of a target, in no particular order (violations are sorted at the end).
    fn focus(&self, target: &Target) -> Vec<TermRef<'a>> {
        match target {
            Target::Class(c) => self
                .types
                .iter()
                .filter(|(_, t)| t.contains(&c.as_ref()))
                .map(|(n, _)| *n)
                .collect(),
            Target::SubjectsOf(p) => self
                .subjects_of
                .get(p.as_str())
                .map(|s| s.iter().copied().collect())
                .unwrap_or_default(),
        }
    }

    fn values(&self, node: TermRef<'a>, path: &NamedNode) -> &[TermRef<'a>] {
        self.values
            .get(&node)
            .and_then(|p| p.get(path.as_str()))
            .map_or(&[], Vec::as_slice)
    }
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

/// Every violation of `shapes` in `quads` (the union of their graphs). The constraints are
/// checked in parallel over one shared index.
pub fn validate_quads<'a>(
    shapes: &Shapes,
    quads: impl IntoIterator<Item = &'a Quad>,
) -> Vec<Violation> {
    validate_quads_with(shapes, quads, &KnownTypes::default())
}

/// [`validate_quads`] where a class constraint that finds no type in the batch also looks in
/// `known` (nodes the batch points at and an earlier batch checked). Focus nodes are only the
/// batch's.
pub fn validate_quads_with<'a>(
    shapes: &Shapes,
    quads: impl IntoIterator<Item = &'a Quad>,
    known: &KnownTypes,
) -> Vec<Violation> {
    let ix = Index::new(quads, known);
    let mut out: Vec<Violation> = shapes
        .constraints
        .par_iter()
        .flat_map_iter(|c| {
            let re = match &c.rule {
                Rule::Pattern { pattern, .. } => {
                    Some(regex::Regex::new(pattern).expect("checked by Shapes::parse"))
                }
                _ => None,
            };
            let ix = &ix;
            ix.focus(&c.target).into_iter().filter_map(move |focus| {
                let bad = match &c.rule {
                    Rule::NodeClass(class) => !ix.has_type(focus, class),
                    Rule::Class { path, class } => ix
                        .values(focus, path)
                        .iter()
                        .any(|v| !ix.has_type(*v, class)),
                    Rule::Datatype { path, datatype } => ix.values(focus, path).iter().any(
                        |v| !matches!(v, TermRef::Literal(l) if l.datatype() == datatype.as_ref()),
                    ),
                    Rule::MinCount { path, n } => (ix.values(focus, path).len() as u64) < *n,
                    Rule::MaxCount { path, n } => (ix.values(focus, path).len() as u64) > *n,
                    Rule::Pattern { path, .. } => {
                        let re = re.as_ref().expect("compiled above");
                        ix.values(focus, path).iter().any(|v| match v {
                            TermRef::Literal(l) => !re.is_match(l.value()),
                            TermRef::NamedNode(n) => !re.is_match(n.as_str()),
                            _ => true,
                        })
                    }
                };
                bad.then(|| Violation {
                    shape: c.shape.clone(),
                    focus: Term::from(focus).to_string(),
                    message: c.message.clone(),
                })
            })
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::Schema;
    use crate::graph::entity::{concept_quads, entity_quads};
    use crate::graph::rdf::tests::{bpsy, input};
    use crate::graph::rdf::{
        report_graph, run_quads, Provenance, RunInfo, Vocabulary, ENTITIES_GRAPH, SEGMENTS_GRAPH,
    };
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
        // As a load checks its chunks: the entity and concept quads in one batch, the rest in
        // a later one that knows only the first batch's types. The same violations.
        let in_two_batches = |quads: &[Quad]| -> Vec<Violation> {
            let earlier = |q: &Quad| {
                [ENTITIES_GRAPH, SEGMENTS_GRAPH]
                    .iter()
                    .any(|g| q.graph_name.to_string() == format!("<{g}>"))
            };
            let mut out = validate_quads(&shapes, quads.iter().filter(|q| earlier(q)));
            let mut known = KnownTypes::default();
            remember_types(&mut known, quads.iter().filter(|q| earlier(q)));
            out.extend(validate_quads_with(
                &shapes,
                quads.iter().filter(|q| !earlier(q)),
                &known,
            ));
            out.sort();
            out.dedup();
            out
        };
        assert_eq!(in_two_batches(&good), vec![]);
        for (what, quads) in cases {
            let rust = validate_quads(&shapes, &quads);
            assert_eq!(
                in_two_batches(&quads),
                rust,
                "{what}: checked in two batches, the checks disagree with one batch"
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

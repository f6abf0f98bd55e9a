//! Extracted triples → RDF quads in the compact layout (issue 8; DESIGN.md, graph notes).
//!
//! Where each thing lives:
//! - **entities graph** (`…/graph/entities`): one node per (type, normalised text) for the
//!   whole store — types, label, normalised text, typed clinical values and coronary-segment
//!   links ([`super::entity`]). A report's load adds only the entity nodes the store lacks.
//! - **one named graph per report** (graph name = the report's IRI): the report node (id,
//!   content hash, patient pseudonym, date, department, the extraction run), and per extracted
//!   relation the asserted triple `s p o` plus one provenance node
//!   `a rdf:reifies <<( s p o )>> ; cb:confidence 9.7e-1 ; cb:spans "12-15 20-24"`
//!   (RDF 1.2 triple terms), and per coronary site where the report finds a stenosis with a
//!   percent, `<report> cb:stenosisAt <site stenosis node>` (derived, [`super::counts`]).
//!   The mention nodes of the first layout fold into that node as the two char spans (one
//!   literal); the surface text is the report's text at the span (the EMR keeps it) and the
//!   entity's normalised text is one hop away. 4 quads per relation, 6 with the RDF 1.1
//!   statement form (`rdf:subject`/`predicate`/`object`), which [`Provenance::Statement`]
//!   still writes for the layout benchmark.
//! - **store graph** (`…/graph/store`): the layout version, the segment table's hash and the
//!   extraction runs; **counts graph** ([`super::counts`]); **segments graph** (the concepts of
//!   ontology/segments.toml); **ontology graph** (ontology/cbrrel.ttl).
//!
//! IRIs are deterministic, so a re-run produces the same nodes:
//! - entity: `…/entity/{type}/{sha256(normalised text)[..16 hex]}`;
//! - report (and its graph): `…/report/{percent-encoded id}`;
//! - provenance node: `{report}/relation/{code}/{s_start}-{s_end}/{o_start}-{o_end}`;
//! - extraction run: `…/run/{model id}/{end time}`.
//!
//! The ontology's class and property IRIs come from the schema (ontology/casmed.toml), never
//! from constants here.

use std::borrow::Cow;
use std::collections::BTreeMap;

use oxigraph::model::vocab::{rdf, xsd};
use oxigraph::model::{
    GraphName, Literal, NamedNode, NamedNodeRef, NamedOrBlankNode, Quad, Term, Triple,
};
use rustc_hash::{FxHashMap, FxHashSet};
use sha2::{Digest, Sha256};

use super::normalize::normalize;
use crate::corpus::Schema;
use crate::extract::TripleRow;

/// Base of the instance IRIs.
pub const DATA_BASE: &str = "https://w3id.org/cbrrel/data/";
/// Name of the graph holding the ontology (ontology/cbrrel.ttl).
pub const ONTOLOGY_GRAPH: &str = "https://w3id.org/cbrrel/graph/ontology";
/// The shared entity nodes.
pub const ENTITIES_GRAPH: &str = "https://w3id.org/cbrrel/graph/entities";
/// Precomputed aggregates (super::counts).
pub const COUNTS_GRAPH: &str = "https://w3id.org/cbrrel/graph/counts";
/// Coronary segment, vessel and position concepts (ontology/segments.toml).
pub const SEGMENTS_GRAPH: &str = "https://w3id.org/cbrrel/graph/segments";
/// Layout version, table hash, extraction runs.
pub const STORE_GRAPH: &str = "https://w3id.org/cbrrel/graph/store";
/// The node describing the store itself (in STORE_GRAPH).
pub const STORE_NODE: &str = "https://w3id.org/cbrrel/data/store";
/// Version of the layout this code writes; a store without it (or with another) is never
/// written into: `cbrrel load --rebuild` migrates it. 1 (unmarked): issue 4's entity copies
/// and mention nodes; 2: shared entity nodes, RDF 1.2 provenance, counts graph (issue 8);
/// 3: value classes on entity nodes (cb:StenosisFinding, cb:TimiFinding, cb:SizedDevice), which
/// the shipped questions start from — a layout-2 store would answer them with no rows;
/// 4: per-site stenosis nodes in the counts graph and `<report> cb:stenosisAt <node>` in each
/// report graph (the segment question's report list, [`super::counts`]); the two spans of a
/// relation in one `cb:spans` literal (4 quads per relation in the report graph, not 5); a
/// link count node is `s p o` in the counts graph plus `cb:countedLink <<( s p o )>>` (4 quads,
/// not 5: cb:countSubject, cb:relation and cb:countObject go); 5: each link's tally,
/// `s <p>Tally <<( o cb:reports n )>>`, and each site finding's, in the counts graph (a body
/// part's findings by report count in one scan, [`super::counts`]); per (vessel, stent size)
/// count nodes (stents per vessel without a seek per consumable link); per report its lowest
/// TIMI grade below 3 after an intervention (`<report> cb:timiAfterIntervention <node>`);
/// 6: the first 1,000 rows of the four store-wide listings, in order ([`super::ranking`]).
pub const LAYOUT_VERSION: u32 = 6;

pub(crate) const PROV: &str = "http://www.w3.org/ns/prov#";
pub(crate) const DCTERMS: &str = "http://purl.org/dc/terms/";

/// How each relation's provenance node points at its triple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Provenance {
    /// `a rdf:reifies <<( s p o )>>`: one quad (RDF 1.2). The layout the store uses.
    #[default]
    Rdf12,
    /// `a rdf:subject s ; rdf:predicate p ; rdf:object o`: three quads (RDF 1.1). Kept only so
    /// the benchmark can measure the alternative the issue asked to compare.
    Statement,
}

/// A report and the triples extracted from it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportInput<'a> {
    pub report_id: &'a str,
    pub content_hash: &'a str,
    pub patient_id: Option<&'a str>,
    pub date: Option<&'a str>,
    pub department: Option<&'a str>,
    /// Borrowed from the shards at night; owned where a rebuild or a test makes them.
    pub triples: Vec<Cow<'a, TripleRow>>,
    /// The run that extracted this report when it is not the load's own (a rebuild keeps each
    /// report's original run).
    pub run: Option<&'a RunInfo>,
}

/// The extraction run that produced the triples.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunInfo {
    pub model_id: String,
    /// xsd:dateTime, UTC (`2026-11-25T02:00:00Z`).
    pub ended_at: String,
}

/// Percent-encode everything outside RFC 3986's unreserved set.
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The inverse of [`encode_segment`] (None on a malformed escape or bad UTF-8).
pub fn decode_segment(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

pub fn report_iri(report_id: &str) -> NamedNode {
    NamedNode::new_unchecked(format!("{DATA_BASE}report/{}", encode_segment(report_id)))
}

/// The report id of a report IRI (None for any other IRI).
pub fn report_id_of(iri: &str) -> Option<String> {
    decode_segment(iri.strip_prefix(DATA_BASE)?.strip_prefix("report/")?)
}

pub fn entity_iri(type_code: &str, normalized: &str) -> NamedNode {
    // The first 8 bytes of the digest, 16 hex digits.
    let h = hex::encode(&Sha256::digest(normalized.as_bytes())[..8]);
    NamedNode::new_unchecked(format!(
        "{DATA_BASE}entity/{}/{h}",
        encode_segment(type_code)
    ))
}

/// The type code of an entity IRI (`…/entity/Bp/…` → `Bp`).
pub fn entity_type_of(iri: &str) -> Option<String> {
    let rest = iri.strip_prefix(DATA_BASE)?.strip_prefix("entity/")?;
    decode_segment(rest.split('/').next()?)
}

pub fn run_iri(run: &RunInfo) -> NamedNode {
    NamedNode::new_unchecked(format!(
        "{DATA_BASE}run/{}/{}",
        encode_segment(&run.model_id),
        encode_segment(&run.ended_at)
    ))
}

pub fn named(iri: &str) -> NamedNode {
    NamedNode::new_unchecked(iri)
}

pub fn graph(iri: &str) -> GraphName {
    GraphName::NamedNode(named(iri))
}

/// The two char spans of a relation as one literal: `"12-15 20-24"` — subject, a space, object,
/// each [start, end) in characters of the report text. One quad instead of two per relation
/// (layout 4); SPARQL reads either half with STRBEFORE/STRAFTER(?spans, " ").
pub fn spans_literal(subject: (u64, u64), object: (u64, u64)) -> Literal {
    Literal::new_simple_literal(format!(
        "{}-{} {}-{}",
        subject.0, subject.1, object.0, object.1
    ))
}

/// The inverse of [`spans_literal`].
pub fn parse_spans(s: &str) -> Option<((u64, u64), (u64, u64))> {
    let (a, b) = s.split_once(' ')?;
    Some((parse_span(a)?, parse_span(b)?))
}

/// One span, `"12-15"` (a half of [`spans_literal`]; layouts 2 and 3 wrote each end as its own
/// `cb:subjectSpan` / `cb:objectSpan`).
pub fn parse_span(s: &str) -> Option<(u64, u64)> {
    let (a, b) = s.split_once('-')?;
    let span = (a.parse().ok()?, b.parse().ok()?);
    (span.0 < span.1).then_some(span)
}

/// Class and property IRIs of a schema with an ontology.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    pub ns: String,
    classes: FxHashMap<String, NamedNode>,
    properties: FxHashMap<String, NamedNode>,
    /// property IRI → (relation code, head type code, tail type code); keyed by the IRI's
    /// text so a look-up borrows the quad's predicate instead of copying it (it is asked of
    /// every quad a load builds).
    relations: FxHashMap<String, (String, String, String)>,
}

impl Vocabulary {
    /// Every entity and relation of `schema` must have an IRI.
    pub fn from_schema(schema: &Schema) -> Result<Vocabulary, String> {
        let ns = schema.namespace.clone().ok_or_else(|| {
            format!(
                "schema {:?} has no `namespace`: the graph needs ontology IRIs",
                schema.name
            )
        })?;
        let mut classes = FxHashMap::default();
        for e in &schema.entities {
            let iri = e
                .iri
                .as_ref()
                .ok_or_else(|| format!("entity type {} has no `iri` in the schema", e.code))?;
            classes.insert(
                e.code.clone(),
                NamedNode::new(format!("{ns}{iri}")).map_err(|err| err.to_string())?,
            );
        }
        let mut properties = FxHashMap::default();
        let mut relations = FxHashMap::default();
        for r in &schema.relations {
            let iri = r
                .iri
                .as_ref()
                .ok_or_else(|| format!("relation {} has no `iri` in the schema", r.code))?;
            let p = NamedNode::new(format!("{ns}{iri}")).map_err(|err| err.to_string())?;
            relations.insert(
                p.as_str().to_owned(),
                (r.code.clone(), r.head.clone(), r.tail.clone()),
            );
            properties.insert(r.code.clone(), p);
        }
        Ok(Vocabulary {
            ns,
            classes,
            properties,
            relations,
        })
    }

    pub fn term(&self, local: &str) -> NamedNode {
        NamedNode::new_unchecked(format!("{}{local}", self.ns))
    }

    pub fn class(&self, code: &str) -> Option<&NamedNode> {
        self.classes.get(code)
    }

    pub fn property(&self, code: &str) -> Option<&NamedNode> {
        self.properties.get(code)
    }

    /// (relation code, head type, tail type) of a relation property.
    pub fn relation_of(&self, p: NamedNodeRef<'_>) -> Option<&(String, String, String)> {
        self.relations.get(p.as_str())
    }

    pub fn is_relation(&self, p: NamedNodeRef<'_>) -> bool {
        self.relations.contains_key(p.as_str())
    }

    /// Every relation property, in schema order of codes.
    pub fn relation_properties(&self) -> Vec<NamedNode> {
        let mut v: Vec<_> = self
            .relations
            .iter()
            .map(|(p, (c, _, _))| (c.clone(), p.clone()))
            .collect();
        v.sort();
        v.into_iter()
            .map(|(_, p)| NamedNode::new_unchecked(p))
            .collect()
    }
}

pub(crate) fn ext(base: &str, local: &str) -> NamedNode {
    NamedNode::new_unchecked(format!("{base}{local}"))
}

/// A quad builder for one graph.
pub(crate) struct GraphWriter<'a> {
    pub graph: GraphName,
    pub out: &'a mut Vec<Quad>,
}

impl GraphWriter<'_> {
    pub fn add(
        &mut self,
        s: impl Into<NamedOrBlankNode>,
        p: impl Into<NamedNode>,
        o: impl Into<Term>,
    ) {
        self.out.push(Quad::new(s, p, o, self.graph.clone()));
    }
}

/// An entity a report mentions: its type code and normalised text (the node's key), with its
/// IRI computed once (a SHA-256 of the text: a load needs it for every mention, every entity
/// look-up and every shape check).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityKey {
    pub type_code: String,
    pub normalized: String,
    iri: NamedNode,
}

impl EntityKey {
    pub fn new(type_code: &str, normalized: String) -> EntityKey {
        EntityKey {
            iri: entity_iri(type_code, &normalized),
            type_code: type_code.to_owned(),
            normalized,
        }
    }

    pub fn iri(&self) -> &NamedNode {
        &self.iri
    }
}

/// One report's graph, built.
#[derive(Debug, Clone, PartialEq)]
pub struct BuiltReport {
    pub graph: NamedNode,
    /// The quads of the report's named graph.
    pub quads: Vec<Quad>,
    /// The entities its relations mention (their nodes live in the entities graph), each with
    /// its number of mentions (the subject and object of every relation row, repeats included).
    pub entities: BTreeMap<EntityKey, usize>,
}

/// Quads of one report's graph. Errors name an unknown relation or entity type, a relation
/// whose entity types contradict its signature, an empty or reversed span, or a confidence
/// outside [0, 1]: the builder refuses a graph the shapes would reject.
pub fn report_graph<'r>(
    report: &'r ReportInput<'_>,
    run: &RunInfo,
    vocab: &Vocabulary,
    provenance: Provenance,
) -> Result<BuiltReport, String> {
    let rep = report_iri(report.report_id);
    let run = report.run.unwrap_or(run);
    if report.report_id.trim().is_empty() {
        return Err("a report with an empty id".into());
    }
    let mut out = Vec::new();
    let mut g = GraphWriter {
        graph: GraphName::NamedNode(rep.clone()),
        out: &mut out,
    };
    g.add(rep.clone(), rdf::TYPE.into_owned(), vocab.term("Report"));
    g.add(
        rep.clone(),
        vocab.term("reportId"),
        Literal::new_simple_literal(report.report_id),
    );
    g.add(
        rep.clone(),
        vocab.term("contentHash"),
        Literal::new_simple_literal(report.content_hash),
    );
    if let Some(p) = report.patient_id {
        g.add(
            rep.clone(),
            vocab.term("patientPseudoId"),
            Literal::new_simple_literal(p),
        );
    }
    if let Some(d) = report.date {
        g.add(
            rep.clone(),
            ext(DCTERMS, "date"),
            Literal::new_simple_literal(d),
        );
    }
    if let Some(d) = report.department {
        g.add(
            rep.clone(),
            vocab.term("department"),
            Literal::new_simple_literal(d),
        );
    }
    g.add(rep.clone(), ext(PROV, "wasGeneratedBy"), run_iri(run));
    // A report names the same few entities in many rows: each surface text is normalised and
    // hashed once per report, and its mentions counted.
    let mut mentions: FxHashMap<(&str, &str), (EntityKey, usize)> = FxHashMap::default();
    let mut provenance_done = FxHashSet::default();
    let mut asserted = FxHashSet::default();
    let (confidence, spans) = (vocab.term("confidence"), vocab.term("spans"));
    for t in &report.triples {
        let t: &TripleRow = t;
        let bad = |why: String| {
            format!(
                "report {}: relation {} {:?} → {:?}: {why}",
                report.report_id, t.relation, t.subject_text, t.object_text
            )
        };
        let prop = vocab
            .property(&t.relation)
            .ok_or_else(|| bad(format!("unknown relation {:?}", t.relation)))?
            .clone();
        let (_, head, tail) = vocab.relation_of(prop.as_ref()).expect("a schema property");
        if t.subject_type != *head || t.object_type != *tail {
            return Err(bad(format!(
                "{} → {} contradicts the relation's signature {head} → {tail}",
                t.subject_type, t.object_type
            )));
        }
        for (span, what) in [(t.subject_span(), "subject"), (t.object_span(), "object")] {
            if span.0 >= span.1 {
                return Err(bad(format!(
                    "empty or reversed {what} span {}..{}",
                    span.0, span.1
                )));
            }
        }
        if !(t.confidence.is_finite() && (0.0..=1.0).contains(&t.confidence)) {
            return Err(bad(format!("confidence {} outside [0, 1]", t.confidence)));
        }
        let mut mention = |ty: &'r str, text: &'r str| -> Result<NamedNode, String> {
            if let Some((k, n)) = mentions.get_mut(&(ty, text)) {
                *n += 1;
                return Ok(k.iri().clone());
            }
            let normalized = normalize(text);
            if normalized.is_empty() {
                return Err(bad("an entity text that normalises to nothing".into()));
            }
            let k = EntityKey::new(ty, normalized);
            let iri = k.iri().clone();
            mentions.insert((ty, text), (k, 1));
            Ok(iri)
        };
        let si = mention(&t.subject_type, &t.subject_text)?;
        let oi = mention(&t.object_type, &t.object_text)?;
        // The provenance node's IRI is a function of the relation and the four offsets: the
        // duplicate check keys on those, without building the IRI first.
        if !provenance_done.insert((
            t.relation.as_str(),
            t.subject_start,
            t.subject_end,
            t.object_start,
            t.object_end,
        )) {
            continue;
        }
        let a = NamedNode::new_unchecked(format!(
            "{}/relation/{}/{}-{}/{}-{}",
            rep.as_str(),
            encode_segment(&t.relation),
            t.subject_start,
            t.subject_end,
            t.object_start,
            t.object_end
        ));
        // The same triple asserted from two spans is one quad (a graph is a set) with two
        // provenance nodes.
        if asserted.insert((si.clone(), prop.clone(), oi.clone())) {
            g.add(si.clone(), prop.clone(), oi.clone());
        }
        match provenance {
            Provenance::Rdf12 => g.add(
                a.clone(),
                rdf::REIFIES.into_owned(),
                Triple::new(si, prop, oi),
            ),
            Provenance::Statement => {
                g.add(a.clone(), rdf::SUBJECT.into_owned(), si);
                g.add(a.clone(), rdf::PREDICATE.into_owned(), prop);
                g.add(a.clone(), rdf::OBJECT.into_owned(), oi);
            }
        }
        g.add(
            a.clone(),
            confidence.clone(),
            Literal::new_typed_literal(format!("{:e}", t.confidence), xsd::DOUBLE),
        );
        g.add(
            a.clone(),
            spans.clone(),
            spans_literal(t.subject_span(), t.object_span()),
        );
    }
    // Two surface texts may normalise to one entity.
    let mut entities: BTreeMap<EntityKey, usize> = BTreeMap::new();
    for (k, n) in mentions.into_values() {
        *entities.entry(k).or_default() += n;
    }
    Ok(BuiltReport {
        graph: rep,
        quads: out,
        entities,
    })
}

/// The quads describing an extraction run (in the store graph).
pub fn run_quads(run: &RunInfo, vocab: &Vocabulary) -> Vec<Quad> {
    let mut out = Vec::new();
    let mut g = GraphWriter {
        graph: graph(STORE_GRAPH),
        out: &mut out,
    };
    let node = run_iri(run);
    g.add(
        node.clone(),
        rdf::TYPE.into_owned(),
        vocab.term("ExtractionRun"),
    );
    g.add(node.clone(), rdf::TYPE.into_owned(), ext(PROV, "Activity"));
    g.add(
        node.clone(),
        vocab.term("modelId"),
        Literal::new_simple_literal(&run.model_id),
    );
    g.add(
        node,
        ext(PROV, "endedAtTime"),
        Literal::new_typed_literal(&run.ended_at, xsd::DATE_TIME),
    );
    out
}

/// The named node of the ontology graph.
pub fn ontology_graph() -> NamedNodeRef<'static> {
    NamedNodeRef::new_unchecked(ONTOLOGY_GRAPH)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn input(id: &str, triples: Vec<TripleRow>) -> ReportInput<'_> {
        ReportInput {
            report_id: id,
            content_hash: "h",
            patient_id: Some("P1"),
            date: Some("2024-01-02"),
            department: None,
            triples: triples.into_iter().map(Cow::Owned).collect(),
            run: None,
        }
    }

    pub(crate) fn bpsy(bp: &str, sy: &str, at: u64) -> TripleRow {
        TripleRow::between(
            "BpSy",
            (bp, "Bp", (at, at + bp.chars().count() as u64)),
            (sy, "Sy", (at + 10, at + 10 + sy.chars().count() as u64)),
            0.9,
        )
    }

    fn run() -> RunInfo {
        RunInfo {
            model_id: "cbrrel-abc".into(),
            ended_at: "2026-11-25T02:00:00Z".into(),
        }
    }

    #[test]
    fn entity_iris_are_stable_across_versions() {
        // Stores on disk hold these IRIs: a change would split every entity in two on the next
        // load. The first 16 hex digits of SHA-256("前降支近段").
        assert_eq!(
            entity_iri("Bp", "前降支近段").as_str(),
            format!("{DATA_BASE}entity/Bp/5634e3ba7ecc64e2")
        );
    }

    #[test]
    fn a_relation_extracted_twice_at_the_same_offsets_is_one_provenance_node() {
        let vocab = Vocabulary::from_schema(&Schema::casmed()).unwrap();
        let build = |rows: Vec<TripleRow>| {
            report_graph(&input("R", rows), &run(), &vocab, Provenance::Rdf12).unwrap()
        };
        let row = |at| bpsy("RCA近段", "狭窄90%", at);
        let once = build(vec![row(0)]);
        let twice = build(vec![row(0), row(0)]);
        assert_eq!(once.quads, twice.quads);
        // The mentions still count both rows.
        assert_eq!(twice.entities.values().sum::<usize>(), 4);
        // The same pair at other offsets is a second provenance node for the same triple.
        let moved = build(vec![row(0), row(40)]);
        let reifiers = |b: &BuiltReport| {
            b.quads
                .iter()
                .filter(|q| q.predicate == rdf::REIFIES)
                .count()
        };
        assert_eq!((reifiers(&once), reifiers(&moved)), (1, 2));
        assert_eq!(moved.quads.len(), once.quads.len() + 3);
    }

    #[test]
    fn one_entity_node_per_type_and_normalised_text_across_reports() {
        let vocab = Vocabulary::from_schema(&Schema::casmed()).unwrap();
        let a = report_graph(
            &input("A 1", vec![bpsy("RCA近段", "狭窄90%", 0)]),
            &run(),
            &vocab,
            Provenance::Rdf12,
        )
        .unwrap();
        let b = report_graph(
            &input("B/2", vec![bpsy("ＲＣＡ 近段", "狭窄９０％", 5)]),
            &run(),
            &vocab,
            Provenance::Rdf12,
        )
        .unwrap();
        let prop = vocab.property("BpSy").unwrap().clone();
        let direct = |q: &[Quad]| {
            q.iter()
                .find(|q| q.predicate == prop)
                .map(|q| (q.subject.clone(), q.object.clone()))
                .unwrap()
        };
        assert_eq!(
            direct(&a.quads),
            direct(&b.quads),
            "same nodes for the same normalised texts"
        );
        assert_eq!(a.entities, b.entities);
        assert_ne!(a.quads[0].graph_name, b.quads[0].graph_name);
        assert!(report_iri("A 1").as_str().ends_with("/report/A%201"));
        assert_eq!(
            report_id_of(report_iri("A 1/中").as_str()).as_deref(),
            Some("A 1/中")
        );
        assert_eq!(
            entity_type_of(entity_iri("Bp", "x").as_str()).as_deref(),
            Some("Bp")
        );
        // Re-building is deterministic.
        assert_eq!(
            a,
            report_graph(
                &input("A 1", vec![bpsy("RCA近段", "狭窄90%", 0)]),
                &run(),
                &vocab,
                Provenance::Rdf12
            )
            .unwrap()
        );
        // An unknown relation, a signature the schema does not have, an empty span and a
        // confidence above 1 are errors, not silent drops.
        let mut bad = bpsy("RCA", "狭窄", 0);
        bad.relation = "XxYy".into();
        assert!(
            report_graph(&input("C", vec![bad]), &run(), &vocab, Provenance::Rdf12)
                .unwrap_err()
                .contains("XxYy")
        );
        let mut bad = bpsy("RCA", "狭窄", 0);
        bad.subject_type = "Tm".into();
        assert!(
            report_graph(&input("C", vec![bad]), &run(), &vocab, Provenance::Rdf12)
                .unwrap_err()
                .contains("signature")
        );
        let mut bad = bpsy("RCA", "狭窄", 0);
        (bad.object_start, bad.object_end) = (5, 5);
        assert!(
            report_graph(&input("C", vec![bad]), &run(), &vocab, Provenance::Rdf12)
                .unwrap_err()
                .contains("span")
        );
        let mut bad = bpsy("RCA", "狭窄", 0);
        bad.confidence = 1.5;
        assert!(
            report_graph(&input("C", vec![bad]), &run(), &vocab, Provenance::Rdf12)
                .unwrap_err()
                .contains("confidence")
        );
    }

    #[test]
    fn four_quads_per_relation_with_rdf12_and_six_as_statements() {
        let vocab = Vocabulary::from_schema(&Schema::casmed()).unwrap();
        // Texts already normalised: no surface-text quad.
        let triples = vec![
            bpsy("前降支近段", "狭窄90%", 0),
            bpsy("回旋支远段", "狭窄70%", 30),
        ];
        let header = report_graph(&input("R", vec![]), &run(), &vocab, Provenance::Rdf12)
            .unwrap()
            .quads
            .len();
        let r12 = report_graph(
            &input("R", triples.clone()),
            &run(),
            &vocab,
            Provenance::Rdf12,
        )
        .unwrap();
        let st = report_graph(&input("R", triples), &run(), &vocab, Provenance::Statement).unwrap();
        assert_eq!((r12.quads.len() - header) / 2, 4);
        assert_eq!((st.quads.len() - header) / 2, 6);
        // A surface text that normalisation changes adds nothing: the span points at it.
        let r = report_graph(
            &input("R", vec![bpsy("LAD近段", "狭窄90%", 0)]),
            &run(),
            &vocab,
            Provenance::Rdf12,
        )
        .unwrap();
        assert_eq!(r.quads.len() - header, 4);
        assert_eq!(parse_span("12-15"), Some((12, 15)));
        assert_eq!(parse_span("15-12"), None);
        assert_eq!(parse_spans("0-5 5-10"), Some(((0, 5), (5, 10))));
        assert_eq!(parse_spans("0-5"), None);
        assert_eq!(
            spans_literal((0, 5), (5, 10)).value(),
            "0-5 5-10",
            "subject first"
        );
    }
}

//! Extracted triples → RDF quads, one named graph per report (DESIGN.md, graph notes).
//!
//! IRIs are deterministic, so a re-run produces the same nodes:
//! - entity: `…/entity/{type}/{sha256(normalised text)[..16 hex]}` — one node per (type,
//!   normalised text), shared by every report that mentions it;
//! - report (also the name of its graph): `…/report/{percent-encoded id}`;
//! - mention: `{report}/mention/{type}/{start}-{end}`;
//! - relation assertion: `{report}/relation/{code}/{s_start}-{s_end}/{o_start}-{o_end}`;
//! - extraction run: `…/run/{model id}/{end time}`.
//!
//! Everything about a report lives in its graph, including the types and labels of the entity
//! nodes it mentions, so replacing or dropping one report's graph never removes what another
//! report needs. The ontology's class and property IRIs come from the schema
//! (ontology/casmed.toml), never from constants here.

use std::collections::HashMap;

use oxigraph::model::vocab::{rdf, rdfs, xsd};
use oxigraph::model::{GraphName, Literal, NamedNode, NamedNodeRef, NamedOrBlankNode, Quad, Term};
use sha2::{Digest, Sha256};

use super::normalize::normalize;
use crate::corpus::Schema;

/// Base of the instance IRIs.
pub const DATA_BASE: &str = "https://w3id.org/cbrrel/data/";
/// Name of the graph holding the ontology (ontology/cbrrel.ttl).
pub const ONTOLOGY_GRAPH: &str = "https://w3id.org/cbrrel/graph/ontology";

const PROV: &str = "http://www.w3.org/ns/prov#";
const DCTERMS: &str = "http://purl.org/dc/terms/";

/// A report and the triples extracted from it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportInput<'a> {
    pub report_id: &'a str,
    pub content_hash: &'a str,
    pub patient_id: Option<&'a str>,
    pub date: Option<&'a str>,
    pub department: Option<&'a str>,
    pub triples: Vec<TripleInput<'a>>,
}

/// One extracted relation with char spans in its report.
#[derive(Debug, Clone, PartialEq)]
pub struct TripleInput<'a> {
    pub relation: &'a str,
    pub subject_text: &'a str,
    pub subject_type: &'a str,
    pub subject_span: (u64, u64),
    pub object_text: &'a str,
    pub object_type: &'a str,
    pub object_span: (u64, u64),
    pub confidence: f64,
}

/// The extraction run that produced the triples.
#[derive(Debug, Clone, PartialEq)]
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

pub fn report_iri(report_id: &str) -> NamedNode {
    NamedNode::new_unchecked(format!("{DATA_BASE}report/{}", encode_segment(report_id)))
}

pub fn entity_iri(type_code: &str, normalized: &str) -> NamedNode {
    let h = hex::encode(Sha256::digest(normalized.as_bytes()));
    NamedNode::new_unchecked(format!("{DATA_BASE}entity/{}/{}", encode_segment(type_code), &h[..16]))
}

pub fn run_iri(run: &RunInfo) -> NamedNode {
    NamedNode::new_unchecked(format!("{DATA_BASE}run/{}/{}", encode_segment(&run.model_id), encode_segment(&run.ended_at)))
}

/// Class and property IRIs of a schema with an ontology.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    pub ns: String,
    classes: HashMap<String, NamedNode>,
    properties: HashMap<String, NamedNode>,
}

impl Vocabulary {
    /// Every entity and relation of `schema` must have an IRI.
    pub fn from_schema(schema: &Schema) -> Result<Vocabulary, String> {
        let ns = schema.namespace.clone().ok_or_else(|| format!("schema {:?} has no `namespace`: the graph needs ontology IRIs", schema.name))?;
        let mut classes = HashMap::new();
        for e in &schema.entities {
            let iri = e.iri.as_ref().ok_or_else(|| format!("entity type {} has no `iri` in the schema", e.code))?;
            classes.insert(e.code.clone(), NamedNode::new(format!("{ns}{iri}")).map_err(|err| err.to_string())?);
        }
        let mut properties = HashMap::new();
        for r in &schema.relations {
            let iri = r.iri.as_ref().ok_or_else(|| format!("relation {} has no `iri` in the schema", r.code))?;
            properties.insert(r.code.clone(), NamedNode::new(format!("{ns}{iri}")).map_err(|err| err.to_string())?);
        }
        Ok(Vocabulary { ns, classes, properties })
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
}

fn ext(base: &str, local: &str) -> NamedNode {
    NamedNode::new_unchecked(format!("{base}{local}"))
}

/// A quad builder for one graph.
struct GraphWriter<'a> {
    graph: GraphName,
    out: &'a mut Vec<Quad>,
}

impl GraphWriter<'_> {
    fn add(&mut self, s: impl Into<NamedOrBlankNode>, p: impl Into<NamedNode>, o: impl Into<Term>) {
        self.out.push(Quad::new(s, p, o, self.graph.clone()));
    }
}

fn int(v: u64) -> Literal {
    Literal::new_typed_literal(v.to_string(), xsd::INTEGER)
}

/// Quads of one report's graph. Errors name an unknown relation or entity type.
pub fn report_quads(report: &ReportInput<'_>, run: &RunInfo, vocab: &Vocabulary) -> Result<Vec<Quad>, String> {
    let rep = report_iri(report.report_id);
    let mut out = Vec::new();
    let mut g = GraphWriter { graph: GraphName::NamedNode(rep.clone()), out: &mut out };
    let (report_class, mention_class, assertion_class, run_class, entity_class) =
        (vocab.term("Report"), vocab.term("Mention"), vocab.term("RelationAssertion"), vocab.term("ExtractionRun"), vocab.term("Entity"));
    let run_node = run_iri(run);
    g.add(rep.clone(), rdf::TYPE.into_owned(), report_class);
    g.add(rep.clone(), vocab.term("reportId"), Literal::new_simple_literal(report.report_id));
    g.add(rep.clone(), vocab.term("contentHash"), Literal::new_simple_literal(report.content_hash));
    if let Some(p) = report.patient_id {
        g.add(rep.clone(), vocab.term("patientPseudoId"), Literal::new_simple_literal(p));
    }
    if let Some(d) = report.date {
        g.add(rep.clone(), ext(DCTERMS, "date"), Literal::new_simple_literal(d));
    }
    if let Some(d) = report.department {
        g.add(rep.clone(), vocab.term("department"), Literal::new_simple_literal(d));
    }
    if !report.triples.is_empty() {
        g.add(run_node.clone(), rdf::TYPE.into_owned(), run_class);
        g.add(run_node.clone(), rdf::TYPE.into_owned(), ext(PROV, "Activity"));
        g.add(run_node.clone(), vocab.term("modelId"), Literal::new_simple_literal(&run.model_id));
        g.add(run_node.clone(), ext(PROV, "endedAtTime"), Literal::new_typed_literal(&run.ended_at, xsd::DATE_TIME));
    }
    let mut entities_done: Vec<NamedNode> = Vec::new();
    let mut mentions_done: Vec<NamedNode> = Vec::new();
    let mut mention = |g: &mut GraphWriter<'_>, text: &str, type_code: &str, span: (u64, u64)| -> Result<NamedNode, String> {
        let class = vocab.class(type_code).ok_or_else(|| format!("report {}: unknown entity type {type_code:?}", report.report_id))?;
        let norm = normalize(text);
        let ent = entity_iri(type_code, &norm);
        if !entities_done.contains(&ent) {
            g.add(ent.clone(), rdf::TYPE.into_owned(), class.clone());
            g.add(ent.clone(), rdf::TYPE.into_owned(), entity_class.clone());
            g.add(ent.clone(), vocab.term("normalizedText"), Literal::new_simple_literal(&norm));
            g.add(ent.clone(), rdfs::LABEL.into_owned(), Literal::new_simple_literal(&norm));
            entities_done.push(ent.clone());
        }
        let m = NamedNode::new_unchecked(format!("{}/mention/{}/{}-{}", rep.as_str(), encode_segment(type_code), span.0, span.1));
        if !mentions_done.contains(&m) {
            g.add(m.clone(), rdf::TYPE.into_owned(), mention_class.clone());
            g.add(m.clone(), vocab.term("mentionOf"), ent.clone());
            g.add(m.clone(), vocab.term("inReport"), rep.clone());
            g.add(m.clone(), vocab.term("text"), Literal::new_simple_literal(text));
            g.add(m.clone(), vocab.term("start"), int(span.0));
            g.add(m.clone(), vocab.term("end"), int(span.1));
            mentions_done.push(m.clone());
        }
        Ok(m)
    };
    let mut assertions_done: Vec<NamedNode> = Vec::new();
    for t in &report.triples {
        let prop = vocab.property(t.relation).ok_or_else(|| format!("report {}: unknown relation {:?}", report.report_id, t.relation))?.clone();
        let sm = mention(&mut g, t.subject_text, t.subject_type, t.subject_span)?;
        let om = mention(&mut g, t.object_text, t.object_type, t.object_span)?;
        let s = entity_iri(t.subject_type, &normalize(t.subject_text));
        let o = entity_iri(t.object_type, &normalize(t.object_text));
        let a = NamedNode::new_unchecked(format!(
            "{}/relation/{}/{}-{}/{}-{}",
            rep.as_str(),
            encode_segment(t.relation),
            t.subject_span.0,
            t.subject_span.1,
            t.object_span.0,
            t.object_span.1
        ));
        if assertions_done.contains(&a) {
            continue;
        }
        assertions_done.push(a.clone());
        g.add(s.clone(), prop.clone(), o.clone());
        g.add(a.clone(), rdf::TYPE.into_owned(), assertion_class.clone());
        g.add(a.clone(), rdf::SUBJECT.into_owned(), s);
        g.add(a.clone(), rdf::PREDICATE.into_owned(), prop);
        g.add(a.clone(), rdf::OBJECT.into_owned(), o);
        g.add(a.clone(), vocab.term("confidence"), Literal::new_typed_literal(format!("{:e}", t.confidence), xsd::DOUBLE));
        g.add(a.clone(), vocab.term("subjectMention"), sm);
        g.add(a.clone(), vocab.term("objectMention"), om);
        g.add(a.clone(), ext(PROV, "wasDerivedFrom"), rep.clone());
        g.add(a.clone(), ext(PROV, "wasGeneratedBy"), run_node.clone());
    }
    // The same entity node reached through two relations is one set of quads: a graph is a set.
    out.sort_by(|a, b| a.to_string().cmp(&b.to_string()));
    out.dedup();
    Ok(out)
}

/// The named node of the ontology graph.
pub fn ontology_graph() -> NamedNodeRef<'static> {
    NamedNodeRef::new_unchecked(ONTOLOGY_GRAPH)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(id: &'a str, triples: Vec<TripleInput<'a>>) -> ReportInput<'a> {
        ReportInput { report_id: id, content_hash: "h", patient_id: Some("P1"), date: Some("2024-01-02"), department: None, triples }
    }

    fn bpsy<'a>(bp: &'a str, sy: &'a str, at: u64) -> TripleInput<'a> {
        TripleInput {
            relation: "BpSy",
            subject_text: bp,
            subject_type: "Bp",
            subject_span: (at, at + bp.chars().count() as u64),
            object_text: sy,
            object_type: "Sy",
            object_span: (at + 10, at + 10 + sy.chars().count() as u64),
            confidence: 0.9,
        }
    }

    #[test]
    fn one_entity_node_per_type_and_normalised_text_across_reports() {
        let vocab = Vocabulary::from_schema(&Schema::casmed()).unwrap();
        let run = RunInfo { model_id: "cbrrel-abc".into(), ended_at: "2026-11-25T02:00:00Z".into() };
        let a = report_quads(&input("A 1", vec![bpsy("RCA近段", "狭窄90%", 0)]), &run, &vocab).unwrap();
        let b = report_quads(&input("B/2", vec![bpsy("ＲＣＡ 近段", "狭窄９０％", 5)]), &run, &vocab).unwrap();
        let prop = vocab.property("BpSy").unwrap().clone();
        let direct = |q: &[Quad]| q.iter().find(|q| q.predicate == prop).map(|q| (q.subject.clone(), q.object.clone())).unwrap();
        assert_eq!(direct(&a), direct(&b), "same nodes for the same normalised texts");
        assert_ne!(a[0].graph_name, b[0].graph_name);
        assert!(report_iri("A 1").as_str().ends_with("/report/A%201"));
        // Re-building is deterministic.
        assert_eq!(a, report_quads(&input("A 1", vec![bpsy("RCA近段", "狭窄90%", 0)]), &run, &vocab).unwrap());
        // An unknown relation is an error, not a silent drop.
        let mut bad = bpsy("RCA", "狭窄", 0);
        bad.relation = "XxYy";
        assert!(report_quads(&input("C", vec![bad]), &run, &vocab).unwrap_err().contains("XxYy"));
    }
}

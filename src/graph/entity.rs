//! Entity nodes and the coronary concepts they link to (issue 8 §2, §3).
//!
//! One node per (type, normalised text) lives in the entities graph for the whole store. What
//! it says is a function of its key and of ontology/segments.toml only: its classes, label and
//! normalised text; the typed clinical values parsed from the text ([`super::values`]:
//! stenosis percent or range, in-stent restenosis, TIMI grade, device diameter × length,
//! French size, dose with a canonical unit); for a body part, the coronary vessels and segments
//! it names ([`super::segments`]). Because the description depends on nothing a report adds,
//! the load writes it once, when the first report mentions the entity, and removes it when the
//! last such report goes (the per-entity report count of the counts graph says when).

use oxigraph::model::vocab::{rdf, rdfs, xsd};
use oxigraph::model::{Literal, NamedNode, Quad};

use super::rdf::{
    encode_segment, graph, EntityKey, GraphWriter, Vocabulary, DATA_BASE, ENTITIES_GRAPH,
    SEGMENTS_GRAPH,
};
use super::segments::{Segment, SegmentTable};
use super::values::{parse_values, ValueKind};

const SKOS: &str = "http://www.w3.org/2004/02/skos/core#";

pub fn vessel_iri(code: &str) -> NamedNode {
    NamedNode::new_unchecked(format!("{DATA_BASE}vessel/{}", encode_segment(code)))
}

pub fn position_iri(code: &str) -> NamedNode {
    NamedNode::new_unchecked(format!("{DATA_BASE}position/{}", encode_segment(code)))
}

pub fn segment_iri(s: &Segment) -> NamedNode {
    NamedNode::new_unchecked(format!("{DATA_BASE}segment/{}", encode_segment(&s.id())))
}

/// What describing one entity found, for the load summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntityStats {
    /// Typed values written.
    pub values: usize,
    /// Value kinds the text called for that did not parse (kept as text only).
    pub unparsed: Vec<ValueKind>,
    /// A body part naming a coronary vessel.
    pub linked: bool,
}

fn decimal(d: impl std::fmt::Display) -> Literal {
    Literal::new_typed_literal(d.to_string(), xsd::DECIMAL)
}

/// The quads of an entity node (entities graph).
pub fn entity_quads(
    key: &EntityKey,
    vocab: &Vocabulary,
    table: &SegmentTable,
) -> Result<(Vec<Quad>, EntityStats), String> {
    let class = vocab
        .class(&key.type_code)
        .ok_or_else(|| format!("unknown entity type {:?}", key.type_code))?;
    let e = key.iri().clone();
    let mut out = Vec::new();
    let mut stats = EntityStats::default();
    let mut g = GraphWriter {
        graph: graph(ENTITIES_GRAPH),
        out: &mut out,
    };
    g.add(e.clone(), rdf::TYPE.into_owned(), class.clone());
    g.add(e.clone(), rdf::TYPE.into_owned(), vocab.term("Entity"));
    g.add(
        e.clone(),
        vocab.term("normalizedText"),
        Literal::new_simple_literal(&key.normalized),
    );
    g.add(
        e.clone(),
        rdfs::LABEL.into_owned(),
        Literal::new_simple_literal(&key.normalized),
    );
    let v = parse_values(&key.type_code, &key.normalized);
    let mut add = |g: &mut GraphWriter<'_>, local: &str, lit: Literal| {
        g.add(e.clone(), vocab.term(local), lit);
        stats.values += 1;
    };
    // A class per kind of typed value, beside the entity type: Oxigraph plans a join from the
    // pattern with the most bound positions, so `?sy a cb:StenosisFinding` lets a question
    // start from the few findings that carry the value instead of from every link of the
    // store (BENCHMARKS.md, "Shipped queries").
    let value_class = |g: &mut GraphWriter<'_>, local: &str| {
        g.add(e.clone(), rdf::TYPE.into_owned(), vocab.term(local));
    };
    if v.stenosis.is_some() {
        value_class(&mut g, "StenosisFinding");
    }
    if v.timi.is_some() {
        value_class(&mut g, "TimiFinding");
    }
    if v.diameter_mm.is_some() {
        value_class(&mut g, "SizedDevice");
    }
    if let Some((min, max)) = v.stenosis {
        add(&mut g, "stenosisMin", decimal(min));
        add(&mut g, "stenosisMax", decimal(max));
        if min == max {
            add(&mut g, "stenosisPercent", decimal(min));
        }
    }
    if v.in_stent_restenosis {
        add(&mut g, "inStentRestenosis", Literal::from(true));
    }
    if let Some(t) = v.timi {
        add(
            &mut g,
            "timiGrade",
            Literal::new_typed_literal(t.to_string(), xsd::INTEGER),
        );
    }
    if let Some(d) = v.diameter_mm {
        add(&mut g, "diameterMm", decimal(d));
    }
    if let Some(l) = v.length_mm {
        add(&mut g, "lengthMm", decimal(l));
    }
    if let Some(f) = v.french {
        add(&mut g, "frenchSize", decimal(f));
    }
    if let Some(d) = &v.dose {
        if let Some(name) = &d.drug {
            add(&mut g, "drugName", Literal::new_simple_literal(name));
        }
        add(&mut g, "doseValue", decimal(d.value));
        add(&mut g, "doseUnit", Literal::new_simple_literal(&d.unit));
    }
    stats.unparsed = v.unparsed;
    if key.type_code == "Bp" {
        if let Some(link) = table.link(&key.normalized) {
            stats.linked = !link.segments.is_empty();
            let mut vessels = Vec::new();
            for s in &link.segments {
                if !vessels.contains(&s.vessel) {
                    g.add(e.clone(), vocab.term("vessel"), vessel_iri(&s.vessel));
                    vessels.push(s.vessel.clone());
                }
                if s.position.is_some() {
                    g.add(e.clone(), vocab.term("segment"), segment_iri(s));
                }
            }
        }
    }
    Ok((out, stats))
}

/// The segments graph: every vessel, position and segment concept of the table, with labels,
/// SYNTAX numbers and the table's hash.
pub fn concept_quads(table: &SegmentTable, vocab: &Vocabulary) -> Vec<Quad> {
    let mut out = Vec::new();
    let mut g = GraphWriter {
        graph: graph(SEGMENTS_GRAPH),
        out: &mut out,
    };
    let notation = NamedNode::new_unchecked(format!("{SKOS}notation"));
    let zh = |s: &str| Literal::new_language_tagged_literal_unchecked(s, "zh");
    let en = |s: &str| Literal::new_language_tagged_literal_unchecked(s, "en");
    for v in table.vessels() {
        let n = vessel_iri(&v.code);
        g.add(
            n.clone(),
            rdf::TYPE.into_owned(),
            vocab.term("CoronaryVessel"),
        );
        g.add(
            n.clone(),
            notation.clone(),
            Literal::new_simple_literal(&v.code),
        );
        g.add(n.clone(), rdfs::LABEL.into_owned(), zh(&v.zh));
        g.add(n.clone(), rdfs::LABEL.into_owned(), en(&v.en));
    }
    for p in table.positions() {
        let n = position_iri(&p.code);
        g.add(
            n.clone(),
            rdf::TYPE.into_owned(),
            vocab.term("SegmentPosition"),
        );
        g.add(
            n.clone(),
            notation.clone(),
            Literal::new_simple_literal(&p.code),
        );
        g.add(n.clone(), rdfs::LABEL.into_owned(), zh(&p.zh));
        g.add(n.clone(), rdfs::LABEL.into_owned(), en(&p.en));
    }
    for s in table.all_segments() {
        let Some(pos) = &s.position else {
            // The vessel-level concept is the vessel itself; its number (LM 5, D1 9) sits there.
            if let Some(num) = &s.number {
                g.add(
                    vessel_iri(&s.vessel),
                    vocab.term("syntaxSegment"),
                    Literal::new_simple_literal(num),
                );
            }
            continue;
        };
        let n = segment_iri(&s);
        g.add(
            n.clone(),
            rdf::TYPE.into_owned(),
            vocab.term("CoronarySegment"),
        );
        g.add(
            n.clone(),
            notation.clone(),
            Literal::new_simple_literal(s.id()),
        );
        g.add(n.clone(), vocab.term("vessel"), vessel_iri(&s.vessel));
        g.add(n.clone(), vocab.term("position"), position_iri(pos));
        if let Some(num) = &s.number {
            g.add(
                n.clone(),
                vocab.term("syntaxSegment"),
                Literal::new_simple_literal(num),
            );
        }
        let (vz, ve) = table
            .vessels()
            .iter()
            .find(|v| v.code == s.vessel)
            .map(|v| (v.zh.clone(), v.en.clone()))
            .unwrap_or_default();
        let (pz, pe) = table
            .positions()
            .iter()
            .find(|p| &p.code == pos)
            .map(|p| (p.zh.clone(), p.en.clone()))
            .unwrap_or_default();
        g.add(
            n.clone(),
            rdfs::LABEL.into_owned(),
            zh(&format!("{vz}{pz}")),
        );
        g.add(n, rdfs::LABEL.into_owned(), en(&format!("{ve}, {pe}")));
    }
    out.sort_by_cached_key(|q| q.to_string());
    out.dedup();
    out
}

//! The counts graph: the aggregates a clinician opens every day, kept up to date by the load
//! instead of recomputed by every query (issue 8 §1; DESIGN.md: a whole-corpus pair aggregate
//! takes seconds over the report graphs and milliseconds from precomputed counts).
//!
//! A report contributes a set of **keys**, each with its number of assertions:
//! - `Entity(e)`: the report mentions entity `e` — the count of such reports keeps the entity's
//!   node alive in the entities graph (written at 0 → 1, removed at 1 → 0);
//! - `Relation(p)`: the report asserts relations of type `p`;
//! - `Link(s, p, o)`: the report asserts `s p o` (symptoms per body part, treatments per body
//!   part, findings per examination, stents per vessel, …);
//! - `SiteFinding(x, o)`: a body part of coronary segment or vessel `x` has finding `o`
//!   (findings per segment, counted once per report however many body-part names reach `x`);
//! - `VesselStent(v, d, l)`: the report places a stent of `d` × `l` mm (a consumable whose text
//!   names 支架 and carries both sizes) in a body part of vessel `v` (stents per vessel: a
//!   few hundred nodes to read, not every consumable link of the store with its sizes);
//! - `PostInterventionTimi(g)`: the report's lowest TIMI grade below 3 mentioned after an
//!   intervention is `g` (a TIMI finding of a body part or an examination whose span starts
//!   after that of a treatment naming PCI, PTCA, a stent, a balloon, 介入, 扩张 or 植入: slow
//!   flow or no-reflow). The report graph points at the node (`<report>
//!   cb:timiAfterIntervention <node>`), so the TIMI question reads the few reports with one
//!   instead of every treatment of every report with a TIMI finding;
//! - `SiteStenosis(x, p)`: the report's highest stenosis at segment or vessel `x` is `p` %
//!   (one key per report and site). The report graph also points at this node
//!   (`<report> cb:stenosisAt <node>`, [`membership_quads`]), so "which reports have ≥ 70 % in
//!   segment 6" scans the few percent nodes of the site and then exactly the reports behind
//!   them — no walk over every finding of every body part that names the segment.
//!
//! A link also has a **tally** in the counts graph (and a site finding its own, `x
//! cb:siteFindingTally <<( o cb:reports n )>>), `s <p>Tally <<( o cb:reports n )>>`
//! (`cb:hasFindingTally` for `cb:hasFinding`, layout 5): the link's report count folded into a
//! triple term, which Oxigraph stores inline in the index key. "The findings of 前降支近段, most
//! reports first" is then one range scan of the body part's tallies — no seek per finding —
//! and only the page of rows a clinician sees is looked up further (2,666 findings of one body
//! part at 100,000 reports: 24–61 ms for the first page against 140 ms with a seek per row;
//! BENCHMARKS.md). The tally is rewritten whenever the link's report count changes.
//!
//! Each key is a node of the counts graph with `cb:reports` (reports with the key) and
//! `cb:assertions` (their assertions). A link is stated once in the counts graph, `s p o`, and
//! its node says which with `cb:countedLink <<( s p o )>>` (4 quads): a question about one body
//! part scans that body part's links in the counts graph and binds each node in one seek
//! (layout 4; the counts graph is also the store's distinct-links view, each link once however
//! many reports assert it). A site node has `cb:site`, `cb:countObject`, a site stenosis node
//! `cb:stenosisSite`, `cb:percent`, and the eight relation nodes are typed `cb:RelationCount`. An entity's count is one quad on the
//! entity node. A load or retraction computes the keys of the reports it
//! removes (read back from their stored graphs) and of those it adds, and applies the
//! difference in the same transaction as the graph changes — only the keys tonight's reports
//! touch are read or written, and a reader never sees counts that disagree with the graphs.

use std::collections::{BTreeMap, HashMap};

use oxigraph::model::vocab::{rdf, xsd};
use oxigraph::model::{
    GraphNameRef, Literal, NamedNode, NamedNodeRef, NamedOrBlankNode, Quad, QuadRef, Term, Triple,
};
use oxigraph::store::Transaction;
use rustc_hash::FxHashMap;
use sha2::{Digest, Sha256};

use super::rdf::{graph, GraphWriter, Vocabulary, COUNTS_GRAPH, DATA_BASE, ENTITIES_GRAPH};
use super::GraphError;

/// One aggregate.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CountKey {
    Entity(NamedNode),
    Relation(NamedNode),
    Link(NamedNode, NamedNode, NamedNode),
    SiteFinding(NamedNode, NamedNode),
    /// (vessel, diameter mm, length mm), the sizes as the canonical `xsd:decimal` lexical
    /// forms of the device's `cb:diameterMm` and `cb:lengthMm`.
    VesselStent(NamedNode, String, String),
    /// A TIMI grade (0–2) after an intervention, the report's lowest.
    PostInterventionTimi(u8),
    /// (site, percent): the percent is the canonical `xsd:decimal` lexical form of the
    /// findings' `cb:stenosisMax`.
    SiteStenosis(NamedNode, String),
}

/// What the keys need to know of an entity of the report: the segments and vessels of a body
/// part, the highest stenosis percent of a finding (its `cb:stenosisMax`), the diameter and
/// length of a stent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntityFacts {
    /// Vessels and segments.
    pub sites: Vec<NamedNode>,
    /// Vessels only.
    pub vessels: Vec<NamedNode>,
    pub stenosis_max: Option<String>,
    /// (diameter, length) in mm of a consumable whose text names a stent (支架).
    pub stent: Option<(String, String)>,
    /// The TIMI grade of a finding (its `cb:timiGrade`).
    pub timi: Option<u8>,
    /// A treatment whose text names an intervention ([`INTERVENTION_WORDS`]).
    pub intervention: bool,
}

/// Words of a treatment's normalised text that make it an intervention, for the TIMI-after-
/// intervention key (the same list as ontology/queries/timi_below_3_after_pci.rq's REGEX).
pub const INTERVENTION_WORDS: [&str; 7] = ["pci", "ptca", "支架", "球囊", "介入", "扩张", "植入"];

impl EntityFacts {
    /// The facts in an entity's description quads (as built, or as read from the store).
    pub fn from_quads<'q>(quads: impl IntoIterator<Item = &'q Quad>, vocab: &Vocabulary) -> Self {
        let (v, s, m) = (
            vocab.term("vessel"),
            vocab.term("segment"),
            vocab.term("stenosisMax"),
        );
        let (d, l, text, timi) = (
            vocab.term("diameterMm"),
            vocab.term("lengthMm"),
            vocab.term("normalizedText"),
            vocab.term("timiGrade"),
        );
        let mut f = EntityFacts::default();
        let (mut diameter, mut length, mut stent) = (None, None, false);
        for q in quads {
            match &q.object {
                Term::NamedNode(n) if q.predicate == v => {
                    f.sites.push(n.clone());
                    f.vessels.push(n.clone());
                }
                Term::NamedNode(n) if q.predicate == s => f.sites.push(n.clone()),
                Term::Literal(x) if q.predicate == m => f.stenosis_max = Some(x.value().into()),
                Term::Literal(x) if q.predicate == d => diameter = Some(x.value().to_owned()),
                Term::Literal(x) if q.predicate == l => length = Some(x.value().to_owned()),
                Term::Literal(x) if q.predicate == text => {
                    stent = x.value().contains("支架");
                    f.intervention = INTERVENTION_WORDS.iter().any(|w| x.value().contains(w));
                }
                Term::Literal(x) if q.predicate == timi => f.timi = x.value().parse().ok(),
                _ => {}
            }
        }
        if let (true, Some(d), Some(l)) = (stent, diameter, length) {
            f.stent = Some((d, l));
        }
        f
    }
}

/// One report's keys, each with its number of assertions in the report.
pub type ReportKeys = BTreeMap<CountKey, u64>;

/// Net change of a key: (reports, assertions).
pub type Deltas = HashMap<CountKey, (i64, i64)>;

fn hashed(kind: &str, parts: &[&NamedNode]) -> NamedNode {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_str().as_bytes());
        h.update([0u8]);
    }
    NamedNode::new_unchecked(format!(
        "{DATA_BASE}count/{kind}/{}",
        &hex::encode(h.finalize())[..16]
    ))
}

impl CountKey {
    /// The node carrying this key's numbers. An entity's count sits on the entity node itself
    /// (in the counts graph), the others on a node of their own.
    pub fn node(&self) -> NamedNode {
        match self {
            CountKey::Entity(e) => e.clone(),
            CountKey::Relation(p) => hashed("relation", &[p]),
            CountKey::Link(s, p, o) => hashed("link", &[s, p, o]),
            CountKey::SiteFinding(x, o) => hashed("site-finding", &[x, o]),
            CountKey::VesselStent(v, d, l) => hashed(
                "vessel-stent",
                &[
                    v,
                    &NamedNode::new_unchecked(d.as_str()),
                    &NamedNode::new_unchecked(l.as_str()),
                ],
            ),
            CountKey::SiteStenosis(x, p) => {
                hashed("site-stenosis", &[x, &NamedNode::new_unchecked(p.as_str())])
            }
            CountKey::PostInterventionTimi(g) => hashed(
                "post-intervention-timi",
                &[&NamedNode::new_unchecked(g.to_string())],
            ),
        }
    }

    /// The quads that say what the node counts (not the numbers).
    fn description(&self, vocab: &Vocabulary, g: &mut GraphWriter<'_>) {
        let n = self.node();
        match self {
            CountKey::Entity(_) => {}
            CountKey::Relation(p) => {
                g.add(
                    n.clone(),
                    rdf::TYPE.into_owned(),
                    vocab.term("RelationCount"),
                );
                g.add(n, vocab.term("relation"), p.clone());
            }
            CountKey::Link(s, p, o) => {
                g.add(s.clone(), p.clone(), o.clone());
                g.add(
                    n,
                    vocab.term("countedLink"),
                    Triple::new(s.clone(), p.clone(), o.clone()),
                );
            }
            CountKey::SiteFinding(x, o) => {
                g.add(n.clone(), vocab.term("site"), x.clone());
                g.add(n, vocab.term("countObject"), o.clone());
            }
            CountKey::VesselStent(v, d, l) => {
                g.add(n.clone(), vocab.term("stentVessel"), v.clone());
                g.add(
                    n.clone(),
                    vocab.term("stentDiameterMm"),
                    Literal::new_typed_literal(d.as_str(), xsd::DECIMAL),
                );
                g.add(
                    n,
                    vocab.term("stentLengthMm"),
                    Literal::new_typed_literal(l.as_str(), xsd::DECIMAL),
                );
            }
            CountKey::PostInterventionTimi(grade) => {
                g.add(n, vocab.term("postInterventionTimi"), int(*grade as u64));
            }
            CountKey::SiteStenosis(x, p) => {
                g.add(n.clone(), vocab.term("stenosisSite"), x.clone());
                g.add(
                    n,
                    vocab.term("percent"),
                    Literal::new_typed_literal(p.as_str(), xsd::DECIMAL),
                );
            }
        }
    }

    fn is_entity(&self) -> bool {
        matches!(self, CountKey::Entity(_))
    }
}

pub(super) fn int(v: u64) -> Literal {
    Literal::new_typed_literal(v.to_string(), xsd::INTEGER)
}

/// The tally property of relation property `p`: `cb:hasFinding` → `cb:hasFindingTally`
/// (declared for each relation in ontology/cbrrel.ttl).
pub(super) fn tally_predicate(p: &NamedNode) -> NamedNode {
    NamedNode::new_unchecked(format!("{}Tally", p.as_str()))
}

/// The tally of a key with `reports` reports, if the key has one: a link's `s <p>Tally <<( o
/// cb:reports n )>>`, a site finding's `x cb:siteFindingTally <<( o cb:reports n )>>` — the
/// report count where a scan of `s`'s links (or `x`'s findings) finds it (see the module doc).
fn tally(k: &CountKey, reports: u64, vocab: &Vocabulary) -> Option<Quad> {
    let (s, p, o) = match k {
        CountKey::Link(s, p, o) => (s, tally_predicate(p), o),
        CountKey::SiteFinding(x, o) => (x, vocab.term("siteFindingTally"), o),
        _ => return None,
    };
    Some(Quad::new(
        s.clone(),
        p,
        Triple::new(o.clone(), vocab.term("reports"), int(reports)),
        graph(COUNTS_GRAPH),
    ))
}

/// The keys of one report graph (its quads, as built or as read back from the store).
/// `facts(e)` gives what the keys need of an entity (sites of a body part, stenosis of a
/// finding).
pub fn report_keys(
    quads: &[Quad],
    vocab: &Vocabulary,
    facts: &mut dyn FnMut(&NamedNode) -> EntityFacts,
) -> ReportKeys {
    // Assertions per asserted triple: provenance nodes pointing at it (RDF 1.2 reifiers, or
    // rdf:subject/predicate/object statements in the benchmark's alternative layout).
    let mut asserted: BTreeMap<(&NamedNode, &NamedNode, &NamedNode), u64> = BTreeMap::new();
    let mut statements: FxHashMap<&NamedOrBlankNode, [Option<&Term>; 3]> = FxHashMap::default();
    // Where each provenance node's object starts in the text (its `cb:spans`), and the triple
    // it points at (RDF 1.2 reifier): what the TIMI-after-intervention key compares.
    let spans_p = vocab.term("spans");
    let mut object_start: FxHashMap<&NamedOrBlankNode, u64> = FxHashMap::default();
    let mut reified: Vec<(&NamedOrBlankNode, &Triple)> = Vec::new();
    for q in quads {
        if vocab.is_relation(q.predicate.as_ref()) {
            if let (NamedOrBlankNode::NamedNode(s), Term::NamedNode(o)) = (&q.subject, &q.object) {
                asserted.entry((s, &q.predicate, o)).or_insert(0);
            }
        }
    }
    for q in quads {
        let p = q.predicate.as_ref();
        if p == spans_p.as_ref() {
            if let Some((_, (start, _))) = match &q.object {
                Term::Literal(l) => super::rdf::parse_spans(l.value()),
                _ => None,
            } {
                object_start.insert(&q.subject, start);
            }
        }
        if p == rdf::REIFIES {
            if let Term::Triple(t) = &q.object {
                reified.push((&q.subject, t));
                if let (NamedOrBlankNode::NamedNode(s), Term::NamedNode(o)) =
                    (&t.subject, &t.object)
                {
                    if let Some(n) = asserted.get_mut(&(s, &t.predicate, o)) {
                        *n += 1;
                    }
                }
            }
        } else if p == rdf::SUBJECT || p == rdf::PREDICATE || p == rdf::OBJECT {
            let slot = statements.entry(&q.subject).or_default();
            let i = if p == rdf::SUBJECT {
                0
            } else if p == rdf::PREDICATE {
                1
            } else {
                2
            };
            slot[i] = Some(&q.object);
        }
    }
    for spo in statements.values() {
        if let [Some(Term::NamedNode(s)), Some(Term::NamedNode(p)), Some(Term::NamedNode(o))] = spo
        {
            if let Some(n) = asserted.get_mut(&(s, p, o)) {
                *n += 1;
            }
        }
    }
    let has_finding = vocab.property("BpSy").cloned();
    let reaches = vocab.property("McBp").cloned();
    let mut keys = ReportKeys::new();
    // Per site: the report's highest stenosis (as a number to compare, and its lexical form)
    // and the assertions with a stenosis there.
    let mut stenosis: BTreeMap<NamedNode, (f64, String, u64)> = BTreeMap::new();
    // Each entity's facts once per report (a body part has several findings, and on the
    // retraction path each look-up reads the store), fetched before they are read.
    let mut known: FxHashMap<&NamedNode, EntityFacts> = FxHashMap::default();
    let objects = reified.iter().filter_map(|(_, t)| match &t.object {
        Term::NamedNode(o) => Some(o),
        _ => None,
    });
    for e in asserted
        .keys()
        .flat_map(|(s, _, o)| [*s, *o])
        .chain(objects)
    {
        if !known.contains_key(e) {
            known.insert(e, facts(e));
        }
    }
    let facts = |e: &NamedNode| -> &EntityFacts { &known[e] };
    for ((s, p, o), n) in asserted {
        let n = n.max(1);
        *keys.entry(CountKey::Entity(s.clone())).or_default() += n;
        *keys.entry(CountKey::Entity(o.clone())).or_default() += n;
        *keys.entry(CountKey::Relation(p.clone())).or_default() += n;
        if Some(p) == has_finding.as_ref() {
            let percent = facts(o)
                .stenosis_max
                .as_ref()
                .and_then(|v| v.parse::<f64>().ok().map(|x| (x, v)));
            for x in &facts(s).sites {
                if let Some((value, text)) = &percent {
                    let e =
                        stenosis
                            .entry(x.clone())
                            .or_insert((f64::NEG_INFINITY, String::new(), 0));
                    if *value > e.0 {
                        (e.0, e.1) = (*value, (*text).clone());
                    }
                    e.2 += n;
                }
                *keys
                    .entry(CountKey::SiteFinding(x.clone(), o.clone()))
                    .or_default() += n;
            }
        }
        if Some(p) == reaches.as_ref() {
            if let Some((d, l)) = &facts(s).stent {
                for v in &facts(o).vessels {
                    *keys
                        .entry(CountKey::VesselStent(v.clone(), d.clone(), l.clone()))
                        .or_default() += n;
                }
            }
        }
        *keys
            .entry(CountKey::Link(s.clone(), p.clone(), o.clone()))
            .or_default() += n;
    }
    for (x, (_, percent, n)) in stenosis {
        keys.insert(CountKey::SiteStenosis(x, percent), n);
    }
    // TIMI below 3 after an intervention: the first intervention's start, then the TIMI
    // findings of body parts and examinations that start after it.
    let (treated, findings) = (
        vocab.property("BpTm").cloned(),
        [
            vocab.property("BpSy").cloned(),
            vocab.property("InSy").cloned(),
        ],
    );
    let mut first_intervention: Option<u64> = None;
    let mut timi: Vec<(u64, u8)> = Vec::new();
    for (node, t) in &reified {
        let (Some(start), Term::NamedNode(o)) = (object_start.get(node), &t.object) else {
            continue;
        };
        if Some(&t.predicate) == treated.as_ref() && facts(o).intervention {
            first_intervention = Some(first_intervention.map_or(*start, |f| f.min(*start)));
        } else if findings.iter().any(|f| f.as_ref() == Some(&t.predicate)) {
            if let Some(g) = facts(o).timi.filter(|g| *g < 3) {
                timi.push((*start, g));
            }
        }
    }
    if let Some(first) = first_intervention {
        let after: Vec<&(u64, u8)> = timi.iter().filter(|(s, _)| *s > first).collect();
        if let Some(lowest) = after.iter().map(|(_, g)| *g).min() {
            keys.insert(CountKey::PostInterventionTimi(lowest), after.len() as u64);
        }
    }
    keys
}

/// The report graph's pointers to its per-site stenosis nodes (`<report> cb:stenosisAt
/// <node>`) and to its TIMI-after-intervention node (`<report> cb:timiAfterIntervention
/// <node>`): derived from the keys like the counts, but stored in the report's own graph, so
/// replacing or retracting the report replaces them with it. The report node is the graph's
/// name.
pub fn membership_quads(report: &NamedNode, keys: &ReportKeys, vocab: &Vocabulary) -> Vec<Quad> {
    let (at, timi) = (
        vocab.term("stenosisAt"),
        vocab.term("timiAfterIntervention"),
    );
    keys.keys()
        .filter_map(|k| match k {
            CountKey::SiteStenosis(..) => Some((k, &at)),
            CountKey::PostInterventionTimi(..) => Some((k, &timi)),
            _ => None,
        })
        .map(|(k, p)| Quad::new(report.clone(), p.clone(), k.node(), report.clone()))
        .collect()
}

/// Add `keys` (sign +1) or take them away (sign -1) from `deltas`.
pub fn add_keys(deltas: &mut Deltas, keys: &ReportKeys, sign: i64) {
    for (k, n) in keys {
        let d = deltas.entry(k.clone()).or_default();
        d.0 += sign;
        d.1 += sign * *n as i64;
    }
}

/// Counts graph quads of keys with known totals (a fresh store's bulk load).
pub fn count_quads<'k>(
    totals: impl IntoIterator<Item = (&'k CountKey, &'k (u64, u64))>,
    vocab: &Vocabulary,
) -> Vec<Quad> {
    let mut out = Vec::new();
    let mut g = GraphWriter {
        graph: graph(COUNTS_GRAPH),
        out: &mut out,
    };
    for (k, (reports, assertions)) in totals {
        if *reports == 0 {
            continue;
        }
        write_numbers(k, *reports, *assertions, vocab, &mut g);
        k.description(vocab, &mut g);
    }
    out
}

fn write_numbers(
    k: &CountKey,
    reports: u64,
    assertions: u64,
    vocab: &Vocabulary,
    g: &mut GraphWriter<'_>,
) {
    let n = k.node();
    if k.is_entity() {
        g.add(n, vocab.term("reportCount"), int(reports));
    } else {
        g.add(n.clone(), vocab.term("reports"), int(reports));
        g.add(n, vocab.term("assertions"), int(assertions));
    }
    g.out.extend(tally(k, reports, vocab));
}

/// A link or site finding whose report count changed: (key, reports before, reports after).
pub type Change = (CountKey, u64, u64);

/// What applying deltas did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Count nodes written (created, changed or removed).
    pub keys_touched: usize,
    pub entities_added: usize,
    pub entities_removed: usize,
    /// The links and site findings whose report counts changed, for the rankings
    /// (`ranking::update`, in the same transaction).
    pub changes: Vec<Change>,
    /// The `cb:stenosisMax` lexical form (or none) of each entity whose node went: the
    /// rankings need it after the node is gone.
    pub gone: HashMap<NamedNode, Option<String>>,
}

fn read_int(
    t: &Transaction<'_>,
    node: NamedNodeRef<'_>,
    p: NamedNodeRef<'_>,
    g: GraphNameRef<'_>,
) -> Result<Option<(Quad, i64)>, GraphError> {
    match t
        .quads_for_pattern(Some(node.into()), Some(p), None, Some(g))
        .next()
    {
        None => Ok(None),
        Some(q) => {
            let q = q?;
            let v = match &q.object {
                Term::Literal(l) => l.value().parse::<i64>().ok(),
                _ => None,
            };
            let v = v.ok_or_else(|| {
                GraphError::Inconsistent(format!(
                    "{node} {p} is not an integer in the counts graph"
                ))
            })?;
            Ok(Some((q, v)))
        }
    }
}

/// Apply `deltas` inside transaction `t`. `describe(e)` gives the entities-graph quads of an
/// entity that gains its first report (every entity a load adds is described by its batch).
pub fn apply(
    t: &mut Transaction<'_>,
    deltas: &Deltas,
    vocab: &Vocabulary,
    describe: &mut dyn FnMut(&NamedNode) -> Option<Vec<Quad>>,
) -> Result<Applied, GraphError> {
    let counts = graph(COUNTS_GRAPH);
    let entities = graph(ENTITIES_GRAPH);
    let (reports_p, assertions_p, entity_p) = (
        vocab.term("reports"),
        vocab.term("assertions"),
        vocab.term("reportCount"),
    );
    let mut applied = Applied::default();
    // A stable order: the same deltas write the same way.
    let mut keys: Vec<(&CountKey, &(i64, i64))> =
        deltas.iter().filter(|(_, d)| **d != (0, 0)).collect();
    keys.sort();
    for (k, (dr, da)) in keys {
        let node = k.node();
        let count_p = if k.is_entity() { &entity_p } else { &reports_p };
        let old = read_int(t, node.as_ref(), count_p.as_ref(), counts.as_ref())?;
        let old_assertions = if k.is_entity() {
            None
        } else {
            read_int(t, node.as_ref(), assertions_p.as_ref(), counts.as_ref())?
        };
        let (r0, a0) = (
            old.as_ref().map_or(0, |x| x.1),
            old_assertions.as_ref().map_or(0, |x| x.1),
        );
        // An entity's count is its reports only; its assertions are counted on its links.
        let (r1, a1) = (r0 + dr, if k.is_entity() { 0 } else { a0 + da });
        if r1 < 0 || a1 < 0 {
            return Err(GraphError::Inconsistent(format!(
                "the counts graph says {r0} reports for {node} but the load removes {}: the store's counts disagree with its report graphs (run `cbrrel load --rebuild`)",
                -dr
            )));
        }
        applied.keys_touched += 1;
        if r0 != r1 && matches!(k, CountKey::Link(..) | CountKey::SiteFinding(..)) {
            applied.changes.push((k.clone(), r0 as u64, r1 as u64));
        }
        if let Some((q, _)) = &old {
            t.remove(q);
        }
        if let Some((q, _)) = &old_assertions {
            t.remove(q);
        }
        if let (Some(q), Some(_)) = (tally(k, r0 as u64, vocab), &old) {
            t.remove(&q);
        }
        if r1 == 0 {
            // The key is gone: its description too, and an entity's node with it. (An entity's
            // node also heads the counts graph's copies of its links, each removed with its
            // own key: an entity without reports has no links left.)
            if !k.is_entity() {
                let rest: Vec<Quad> = t
                    .quads_for_pattern(
                        Some(node.as_ref().into()),
                        None,
                        None,
                        Some(counts.as_ref()),
                    )
                    .collect::<Result<_, _>>()?;
                for q in &rest {
                    t.remove(q);
                }
            }
            if let CountKey::Link(s, p, o) = k {
                t.remove(QuadRef::new(
                    s.as_ref(),
                    p.as_ref(),
                    o.as_ref(),
                    counts.as_ref(),
                ));
            }
            if k.is_entity() {
                let desc: Vec<Quad> = t
                    .quads_for_pattern(
                        Some(node.as_ref().into()),
                        None,
                        None,
                        Some(entities.as_ref()),
                    )
                    .collect::<Result<_, _>>()?;
                for q in &desc {
                    t.remove(q);
                }
                let max = vocab.term("stenosisMax");
                let percent =
                    desc.iter()
                        .find(|q| q.predicate == max)
                        .and_then(|q| match &q.object {
                            Term::Literal(l) => Some(l.value().to_owned()),
                            _ => None,
                        });
                applied.gone.insert(node.clone(), percent);
                applied.entities_removed += 1;
            }
            continue;
        }
        let mut out = Vec::new();
        let mut g = GraphWriter {
            graph: counts.clone(),
            out: &mut out,
        };
        write_numbers(k, r1 as u64, a1 as u64, vocab, &mut g);
        if r0 == 0 {
            k.description(vocab, &mut g);
            if let CountKey::Entity(e) = k {
                let desc = describe(e).ok_or_else(|| {
                    GraphError::Inconsistent(format!(
                        "entity {e} gains a report but its batch does not describe it"
                    ))
                })?;
                out.extend(desc);
                applied.entities_added += 1;
            }
        }
        t.extend(out.iter());
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::Schema;
    use crate::graph::rdf::tests::{bpsy, input};
    use crate::graph::rdf::{report_graph, Provenance, RunInfo};

    #[test]
    fn keys_count_reports_once_and_assertions_each() {
        let vocab = Vocabulary::from_schema(&Schema::casmed()).unwrap();
        let run = RunInfo {
            model_id: "m".into(),
            ended_at: "2026-11-25T02:00:00Z".into(),
        };
        // The same link from two spans, and a second link.
        let triples = vec![
            bpsy("前降支近段", "狭窄90%", 0),
            bpsy("前降支近段", "狭窄90%", 40),
            bpsy("前降支近段", "钙化", 80),
        ];
        let r = report_graph(
            &input("R", triples.clone()),
            &run,
            &vocab,
            Provenance::Rdf12,
        )
        .unwrap();
        let seg = NamedNode::new_unchecked("https://example.org/seg");
        let keys = report_keys(&r.quads, &vocab, &mut |_| EntityFacts {
            sites: vec![seg.clone()],
            ..EntityFacts::default()
        });
        let bp = crate::graph::rdf::entity_iri("Bp", "前降支近段");
        let sy = crate::graph::rdf::entity_iri("Sy", "狭窄90%");
        let p = vocab.property("BpSy").unwrap().clone();
        assert_eq!(keys[&CountKey::Link(bp.clone(), p.clone(), sy.clone())], 2);
        assert_eq!(keys[&CountKey::Relation(p)], 3);
        assert_eq!(keys[&CountKey::Entity(bp)], 3);
        assert_eq!(keys[&CountKey::SiteFinding(seg, sy)], 2);
        // The statement form counts the same.
        let st = report_graph(&input("R", triples), &run, &vocab, Provenance::Statement).unwrap();
        assert_eq!(
            report_keys(&st.quads, &vocab, &mut |_| EntityFacts::default()).len() + 2,
            keys.len()
        );
        let mut d = Deltas::new();
        add_keys(&mut d, &keys, 1);
        add_keys(&mut d, &keys, -1);
        assert!(d.values().all(|v| *v == (0, 0)));
    }

    #[test]
    fn timi_below_3_counts_only_after_an_intervention() {
        let kit = crate::graph::testkit::Kit::new();
        let (vocab, run) = (&kit.vocab, &kit.run);
        let t = crate::graph::testkit::triple;
        let sy = |text: &str| crate::graph::rdf::entity_iri("Sy", text);
        let tm = |text: &str| crate::graph::rdf::entity_iri("Tm", text);
        // What the entities graph would say: grades of the TIMI findings, the interventions.
        let mut facts = |e: &NamedNode| {
            let mut f = EntityFacts::default();
            for (text, grade) in [("timi血流0级", 0), ("timi血流1级", 1), ("timi血流2级", 2)]
            {
                if *e == sy(text) {
                    f.timi = Some(grade);
                }
            }
            f.intervention = *e == tm("pci") || *e == tm("球囊扩张");
            f
        };
        let keys_of = |triples: Vec<crate::extract::TripleRow>,
                       facts: &mut dyn FnMut(&NamedNode) -> EntityFacts| {
            let r = report_graph(&input("R", triples), run, vocab, Provenance::Rdf12).unwrap();
            let keys = report_keys(&r.quads, vocab, facts);
            let timi: Vec<(u8, u64)> = keys
                .iter()
                .filter_map(|(k, n)| match k {
                    CountKey::PostInterventionTimi(g) => Some((*g, *n)),
                    _ => None,
                })
                .collect();
            let marks = membership_quads(&r.graph, &keys, vocab)
                .iter()
                .filter(|q| q.predicate == vocab.term("timiAfterIntervention"))
                .count();
            (timi, marks)
        };
        // TIMI 0 before the PCI, TIMI 2 and (from an examination) TIMI 1 after it: the lowest
        // after, with the two findings after it as assertions; one mark in the report graph.
        let after = vec![
            t("BpSy", ("前降支", "Bp", 0), ("TIMI血流0级", "Sy", 4)),
            t("BpTm", ("前降支", "Bp", 0), ("PCI", "Tm", 20)),
            t("BpSy", ("前降支", "Bp", 0), ("TIMI血流2级", "Sy", 40)),
            t("InSy", ("造影", "In", 50), ("TIMI血流1级", "Sy", 60)),
        ];
        assert_eq!(keys_of(after, &mut facts), (vec![(1, 2)], 1));
        // Only before the intervention, or no intervention at all (a treatment that is not
        // one): no key, no mark.
        let before = vec![
            t("BpSy", ("前降支", "Bp", 0), ("TIMI血流0级", "Sy", 4)),
            t("BpTm", ("前降支", "Bp", 0), ("球囊扩张", "Tm", 20)),
        ];
        assert_eq!(keys_of(before, &mut facts), (vec![], 0));
        let no_intervention = vec![
            t("BpTm", ("前降支", "Bp", 0), ("药物治疗", "Tm", 2)),
            t("BpSy", ("前降支", "Bp", 0), ("TIMI血流2级", "Sy", 40)),
        ];
        assert_eq!(keys_of(no_intervention, &mut facts), (vec![], 0));
    }

    #[test]
    fn entity_facts_read_the_stored_values() {
        let vocab = Vocabulary::from_schema(&Schema::casmed()).unwrap();
        let e = NamedNode::new_unchecked("https://example.org/e");
        let q = |p: &str, o: Term| Quad::new(e.clone(), vocab.term(p), o, graph(ENTITIES_GRAPH));
        let dec = |v: &str| Term::from(Literal::new_typed_literal(v, xsd::DECIMAL));
        let text = |v: &str| Term::from(Literal::new_simple_literal(v));
        let stent = [
            q("normalizedText", text("firebird2 3.0*18mm支架")),
            q("diameterMm", dec("3.0")),
            q("lengthMm", dec("18")),
        ];
        let f = EntityFacts::from_quads(&stent, &vocab);
        assert_eq!(f.stent, Some(("3.0".into(), "18".into())));
        // A balloon has sizes but is no stent; a stent without a length is not counted.
        let balloon = [
            q("normalizedText", text("2.5*15mm球囊")),
            q("diameterMm", dec("2.5")),
            q("lengthMm", dec("15")),
        ];
        let f = EntityFacts::from_quads(&balloon, &vocab);
        assert_eq!((f.stent, f.intervention), (None, true));
        assert_eq!(EntityFacts::from_quads(&stent[..2], &vocab).stent, None);
        let timi = [q(
            "timiGrade",
            Literal::new_typed_literal("2", xsd::INTEGER).into(),
        )];
        assert_eq!(EntityFacts::from_quads(&timi, &vocab).timi, Some(2));
    }

    #[test]
    fn a_site_keeps_the_reports_highest_stenosis_and_the_report_points_at_it() {
        let vocab = Vocabulary::from_schema(&Schema::casmed()).unwrap();
        let run = RunInfo {
            model_id: "m".into(),
            ended_at: "2026-11-25T02:00:00Z".into(),
        };
        // Two names of the same segment with 70 % and 95 %, a finding without a percent, and
        // another segment at 50 %.
        let triples = vec![
            bpsy("前降支近段", "狭窄70%", 0),
            bpsy("lad近段", "狭窄95%", 20),
            bpsy("lad近段", "钙化", 40),
            bpsy("回旋支远段", "狭窄50%", 60),
        ];
        let r = report_graph(&input("R", triples), &run, &vocab, Provenance::Rdf12).unwrap();
        let (lad_p, lcx_d) = (
            NamedNode::new_unchecked("https://example.org/lad-p"),
            NamedNode::new_unchecked("https://example.org/lcx-d"),
        );
        let bp = |t: &str| crate::graph::rdf::entity_iri("Bp", t);
        let sy = |t: &str| crate::graph::rdf::entity_iri("Sy", t);
        let keys = report_keys(&r.quads, &vocab, &mut |e| {
            let mut f = EntityFacts::default();
            if *e == bp("前降支近段") || *e == bp("lad近段") {
                f.sites.push(lad_p.clone());
            } else if *e == bp("回旋支远段") {
                f.sites.push(lcx_d.clone());
            }
            for (t, p) in [("狭窄70%", "70"), ("狭窄95%", "95"), ("狭窄50%", "50")] {
                if *e == sy(t) {
                    f.stenosis_max = Some(p.into());
                }
            }
            f
        });
        let stenosis: Vec<(&NamedNode, &str, u64)> = keys
            .iter()
            .filter_map(|(k, n)| match k {
                CountKey::SiteStenosis(x, p) => Some((x, p.as_str(), *n)),
                _ => None,
            })
            .collect();
        // One key per site: the highest percent, with the site's assertions that had one.
        assert_eq!(stenosis, [(&lad_p, "95", 2), (&lcx_d, "50", 1)]);
        let members = membership_quads(&r.graph, &keys, &vocab);
        assert_eq!(members.len(), 2);
        assert!(members.iter().all(|q| q.subject == r.graph.clone().into()
            && q.predicate == vocab.term("stenosisAt")
            && q.graph_name == r.graph.clone().into()));
        assert!(members.iter().any(|q| q.object
            == CountKey::SiteStenosis(lad_p.clone(), "95".into())
                .node()
                .into()));
    }
}

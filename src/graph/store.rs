//! The load stage: report graphs, entity nodes and counts into an Oxigraph store on disk
//! (RocksDB), in the compact layout of [`super::rdf`].
//!
//! - **Check first.** Every report graph is built and checked against the shapes of
//!   ontology/shapes.ttl in Rust ([`super::validate`]), together with the entity nodes, the run
//!   and the segment concepts it refers to, before anything is written: one violation and the
//!   store is untouched.
//! - **A fresh store** is filled by Oxigraph's bulk loader (nothing is visible until its
//!   `commit()`); the counts and the entity nodes are totalled in memory on the way.
//! - **A store with data** is updated report by report in transactions of
//!   [`REPORTS_PER_TRANSACTION`]: a changed report's graph is dropped and its new quads
//!   inserted, and the counts its old and new keys touch are updated, in one transaction — a
//!   reader never sees a report half replaced or counts that disagree with the graphs, and a
//!   crash leaves each report old or new. Re-running on the same input converges to the same
//!   store (graphs are sets, IRIs deterministic, a replaced report's counts net to zero).
//! - **Layout guard.** The store graph records the layout version and the segment table's
//!   hash. A store written by the first layout, or built with another segment table, is never
//!   written into: the load stops and says to run `cbrrel load --rebuild` ([`super::rebuild`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::Instant;

use oxigraph::io::{RdfFormat, RdfParser};
use oxigraph::model::{
    GraphName, Literal, NamedNode, NamedNodeRef, NamedOrBlankNodeRef, Quad, Term,
};
use oxigraph::store::{Store, Transaction};
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;

use super::counts::{self, add_keys, report_keys, CountKey, Deltas, EntityFacts, ReportKeys};
use super::entity::{concept_quads, entity_quads, EntityStats};
use super::ranking;
use super::rdf::{
    graph, named, ontology_graph, report_graph, run_quads, BuiltReport, EntityKey, Provenance,
    ReportInput, RunInfo, Vocabulary, ENTITIES_GRAPH, LAYOUT_VERSION, SEGMENTS_GRAPH, STORE_GRAPH,
    STORE_NODE,
};
use super::segments::SegmentTable;
use super::shacl::Shapes;
use super::validate::{remember_types, KnownTypes, Validator};
use super::GraphError;

/// Reports per write transaction on update (each report's replacement is inside one).
pub const REPORTS_PER_TRANSACTION: usize = 256;
/// Reports per check and bulk-loader batch.
const CHECK_CHUNK: usize = 2000;

/// The numbers of one load.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LoadSummary {
    /// Report graphs written (new or replaced).
    pub reports: usize,
    pub replaced: usize,
    /// Relations asserted in the written graphs.
    pub triples: usize,
    pub per_relation: BTreeMap<String, usize>,
    /// Quads written: report graphs, new entity nodes, count nodes.
    pub quads_written: usize,
    /// Quads in the report graphs written.
    pub report_quads: usize,
    /// Quads in the whole store after the load.
    pub store_quads: usize,
    pub bulk: bool,
    /// Seconds spent compacting the store after a bulk load (included in `seconds`).
    pub optimize_seconds: f64,
    pub ontology_updated: bool,
    /// Shape constraints checked (ontology/shapes.ttl).
    pub shape_constraints: usize,
    /// Entity nodes added to / removed from the entities graph.
    pub entities_added: usize,
    pub entities_removed: usize,
    /// Count nodes created, changed or removed.
    pub count_keys_touched: usize,
    /// Ranked listings (ranking.rs) rebuilt from their tallies because entries left them
    /// (a retraction or a replaced report lowering a ranked link); merged in place otherwise.
    pub rankings_rebuilt: usize,
    /// Typed values parsed, on the entity nodes the load described.
    pub values_parsed: usize,
    /// Value kinds an entity text called for that did not parse (kept as text), per kind.
    pub values_unparsed: BTreeMap<String, usize>,
    /// Body-part mentions in the loaded relations, and those linked to a coronary vessel.
    pub bp_mentions: usize,
    pub bp_mentions_linked: usize,
    pub seconds: f64,
}

/// Everything a load needs besides the reports.
pub struct LoadContext<'a> {
    pub ontology_ttl: &'a str,
    pub shapes: &'a Shapes,
    pub vocab: &'a Vocabulary,
    pub table: &'a SegmentTable,
    pub provenance: Provenance,
}

/// What a load reads besides the reports, as the project ships it: the vocabulary of
/// ontology/casmed.toml, the shapes of ontology/shapes.ttl and the segment table of
/// ontology/segments.toml.
pub struct Shipped {
    pub vocab: Vocabulary,
    pub shapes: Shapes,
    pub table: SegmentTable,
}

impl Shipped {
    pub fn load() -> Result<Shipped, GraphError> {
        Ok(Shipped {
            vocab: Vocabulary::from_schema(&crate::corpus::Schema::casmed())
                .map_err(GraphError::Ontology)?,
            shapes: Shapes::parse(super::SHAPES_TTL).map_err(GraphError::Ontology)?,
            table: SegmentTable::default_table(),
        })
    }

    /// The load context of the shipped files, in the store's layout (RDF 1.2 provenance).
    pub fn context(&self) -> LoadContext<'_> {
        LoadContext {
            ontology_ttl: super::ONTOLOGY_TTL,
            shapes: &self.shapes,
            vocab: &self.vocab,
            table: &self.table,
            provenance: Provenance::Rdf12,
        }
    }
}

/// Parse Turtle into quads of `graph`.
pub fn turtle_quads(turtle: &str, graph: GraphName) -> Result<Vec<Quad>, GraphError> {
    RdfParser::from_format(RdfFormat::Turtle)
        .with_default_graph(graph)
        .for_slice(turtle.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| GraphError::Ontology(e.to_string()))
}

/// Open (or create) the store directory. One process writes a store at a time (RocksDB's
/// LOCK file); a second writer gets [`GraphError::Locked`], not RocksDB's lock-file message.
pub fn open_store(dir: &Path) -> Result<Store, GraphError> {
    Store::open(dir).map_err(|source| {
        // RocksDB says "While lock file: …/LOCK: Resource temporarily unavailable" across
        // processes and "lock hold by current process" within one; both name the LOCK file.
        if source.to_string().contains("/LOCK:") {
            GraphError::Locked {
                path: dir.to_owned(),
            }
        } else {
            GraphError::Open {
                path: dir.to_owned(),
                source,
            }
        }
    })
}

/// Open an existing store read-only (for queries, exports, ingest's hash look-up).
pub fn open_read_only(dir: &Path) -> Result<Store, GraphError> {
    if !dir.exists() {
        return Err(GraphError::NoStore(dir.to_owned()));
    }
    Store::open_read_only(dir).map_err(|source| GraphError::Open {
        path: dir.to_owned(),
        source,
    })
}

/// Content hash of every report in the store (report id → hash): what ingest compares with.
/// Works on either layout (the report node has not changed).
pub fn stored_hashes(
    dir: &Path,
    vocab: &Vocabulary,
) -> Result<BTreeMap<String, String>, GraphError> {
    if !dir.exists() {
        return Ok(BTreeMap::new());
    }
    let store = open_read_only(dir)?;
    let (id_p, hash_p) = (vocab.term("reportId"), vocab.term("contentHash"));
    let mut ids: HashMap<Term, String> = HashMap::new();
    for q in store.quads_for_pattern(None, Some(id_p.as_ref()), None, None) {
        let q = q?;
        if let (Term::Literal(l), GraphName::NamedNode(g)) = (&q.object, &q.graph_name) {
            if q.subject.as_ref() == NamedOrBlankNodeRef::from(g.as_ref()) {
                ids.insert(q.subject.into(), l.value().to_owned());
            }
        }
    }
    let mut out = BTreeMap::new();
    for q in store.quads_for_pattern(None, Some(hash_p.as_ref()), None, None) {
        let q = q?;
        if let (Term::Literal(h), Some(id)) = (&q.object, ids.get(&Term::from(q.subject.clone()))) {
            out.insert(id.clone(), h.value().to_owned());
        }
    }
    Ok(out)
}

/// What the store graph says about the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreMark {
    pub layout: Option<u32>,
    pub table_hash: Option<String>,
}

pub fn read_mark(store: &Store, vocab: &Vocabulary) -> Result<StoreMark, GraphError> {
    let node = named(STORE_NODE);
    let g = graph(STORE_GRAPH);
    let value = |local: &str| -> Result<Option<String>, GraphError> {
        let p = vocab.term(local);
        Ok(
            match store
                .quads_for_pattern(
                    Some(node.as_ref().into()),
                    Some(p.as_ref()),
                    None,
                    Some(g.as_ref()),
                )
                .next()
                .transpose()?
            {
                Some(Quad {
                    object: Term::Literal(l),
                    ..
                }) => Some(l.value().to_owned()),
                _ => None,
            },
        )
    };
    Ok(StoreMark {
        layout: value("layoutVersion")?.and_then(|v| v.parse().ok()),
        table_hash: value("segmentTableHash")?,
    })
}

fn mark_quads(vocab: &Vocabulary, table: &SegmentTable) -> Vec<Quad> {
    let node = named(STORE_NODE);
    vec![
        Quad::new(
            node.clone(),
            vocab.term("layoutVersion"),
            Literal::new_typed_literal(
                LAYOUT_VERSION.to_string(),
                oxigraph::model::vocab::xsd::INTEGER,
            ),
            graph(STORE_GRAPH),
        ),
        Quad::new(
            node,
            vocab.term("segmentTableHash"),
            Literal::new_simple_literal(table.content_hash()),
            graph(STORE_GRAPH),
        ),
    ]
}

/// Refuse to write into a store of another layout or segment table.
pub fn check_mark(
    dir: &Path,
    store: &Store,
    vocab: &Vocabulary,
    table: &SegmentTable,
) -> Result<(), GraphError> {
    let mark = read_mark(store, vocab)?;
    if mark.layout != Some(LAYOUT_VERSION) {
        return Err(GraphError::OldLayout {
            path: dir.to_owned(),
            found: mark.layout,
        });
    }
    if mark.table_hash.as_deref() != Some(table.content_hash().as_str()) {
        return Err(GraphError::TableChanged {
            path: dir.to_owned(),
        });
    }
    Ok(())
}

/// The described entities of a batch: IRI → (quads, stats).
/// With each its facts for the count keys, read once from its quads (every report that
/// mentions the entity needs them: 5 M look-ups at 100,000 reports).
type Described = FxHashMap<NamedNode, DescribedEntity>;
type DescribedEntity = (Vec<Quad>, EntityStats, EntityFacts);

/// What the count keys need of a described entity (nothing for one the batch lacks).
fn facts(described: &Described, e: &NamedNode) -> EntityFacts {
    described.get(e).map(|d| d.2.clone()).unwrap_or_default()
}

/// Describe the entities of `keys` the cache lacks; returns their IRIs (each once).
fn describe_all<'k>(
    keys: impl Iterator<Item = &'k EntityKey>,
    cx: &LoadContext<'_>,
    cache: &mut Described,
) -> Result<Vec<NamedNode>, GraphError> {
    let mut wanted = FxHashSet::default();
    let missing: Vec<&EntityKey> = keys
        .filter(|k| !cache.contains_key(k.iri()) && wanted.insert(k.iri()))
        .collect();
    let described: Vec<(NamedNode, DescribedEntity)> = missing
        .par_iter()
        .map(|k| {
            entity_quads(k, cx.vocab, cx.table).map(|(quads, stats)| {
                let facts = EntityFacts::from_quads(&quads, cx.vocab);
                (k.iri().clone(), (quads, stats, facts))
            })
        })
        .collect::<Result<_, _>>()
        .map_err(GraphError::Invalid)?;
    let new = described.iter().map(|(iri, _)| iri.clone()).collect();
    cache.extend(described);
    Ok(new)
}

/// What the shape checks of a load have seen so far: the types of every node checked in an
/// earlier batch (entity nodes, segment concepts, runs), which class constraints of a later
/// batch look up; and the shapes, compiled once for the load.
struct Checked {
    types: KnownTypes,
    fixed_done: bool,
    validator: Validator,
}

impl Checked {
    fn new(shapes: &Shapes) -> Checked {
        Checked {
            types: KnownTypes::default(),
            fixed_done: false,
            validator: Validator::new(shapes),
        }
    }
}

/// Build a chunk of reports, describe their entities, and check the lot against the shapes.
///
/// Checked first, as one batch: the chunk's runs and only what no earlier chunk checked — the
/// entities described for the first time (an entity's description is complete where it is
/// built, so checking it once is checking it) and, in the first chunk, the fixed quads
/// (segment concepts). Then each report graph alone, in parallel, its class constraints
/// answered from the types checked before (validate.rs says why the split finds what one
/// batch would). (Before, the chunk was one batch of ≈ 1.3 M quads whose index was built on
/// one thread: a third of the load's building time at 100,000 reports.)
fn build_checked(
    chunk: &[ReportInput<'_>],
    run: &RunInfo,
    cx: &LoadContext<'_>,
    cache: &mut Described,
    checked: &mut Checked,
    fixed: &[Quad],
) -> Result<Vec<BuiltReport>, GraphError> {
    let built: Vec<BuiltReport> = chunk
        .par_iter()
        .map(|r| report_graph(r, run, cx.vocab, cx.provenance))
        .collect::<Result<_, _>>()
        .map_err(GraphError::Invalid)?;
    let new = describe_all(built.iter().flat_map(|b| b.entities.keys()), cx, cache)?;
    let runs: HashSet<&RunInfo> = chunk.iter().map(|r| r.run.unwrap_or(run)).collect();
    let run_quads: Vec<Quad> = runs
        .into_iter()
        .flat_map(|r| run_quads(r, cx.vocab))
        .collect();
    let mut shared: Vec<&Quad> = run_quads.iter().collect();
    if !checked.fixed_done {
        shared.extend(fixed);
    }
    for e in &new {
        shared.extend(&cache[e].0);
    }
    if cx.provenance == Provenance::Rdf12 {
        let mut violations = checked
            .validator
            .check(shared.iter().copied(), &checked.types);
        if violations.is_empty() {
            // The shared quads passed: their types answer the reports' class constraints.
            // (Should a report fail below, the load stops; what is remembered here was
            // checked.)
            remember_types(&mut checked.types, shared.iter().copied());
            checked.fixed_done = true;
            let checked = &*checked;
            violations = built
                .par_iter()
                .flat_map_iter(|b| checked.validator.check(&b.quads, &checked.types))
                .collect();
            violations.sort();
            violations.dedup();
        }
        if !violations.is_empty() {
            let first = violations
                .iter()
                .take(5)
                .map(|v| format!("{} at {}: {}", v.shape, v.focus, v.message))
                .collect();
            return Err(GraphError::Shacl {
                count: violations.len(),
                first,
            });
        }
    } else {
        remember_types(&mut checked.types, shared.iter().copied());
        checked.fixed_done = true;
    }
    Ok(built)
}

/// Remove a stored report graph inside `t`, adding the negation of its keys to `deltas`.
/// Returns false when the store has no such graph.
pub fn remove_report(
    t: &mut Transaction<'_>,
    g: NamedNodeRef<'_>,
    vocab: &Vocabulary,
    deltas: &mut Deltas,
) -> Result<bool, GraphError> {
    if !t.contains_named_graph(g)? {
        return Ok(false);
    }
    let old: Vec<Quad> = t
        .quads_for_pattern(None, None, None, Some(g.into()))
        .collect::<Result<_, _>>()?;
    let entities = graph(ENTITIES_GRAPH);
    let mut lookup_error = None;
    let keys = report_keys(&old, vocab, &mut |e| {
        let quads: Vec<Quad> = t
            .quads_for_pattern(Some(e.as_ref().into()), None, None, Some(entities.as_ref()))
            .filter_map(|q| q.map_err(|err| lookup_error = Some(err)).ok())
            .collect();
        EntityFacts::from_quads(&quads, vocab)
    });
    if let Some(e) = lookup_error {
        return Err(e.into());
    }
    add_keys(deltas, &keys, -1);
    t.remove_named_graph(g)?;
    Ok(true)
}

/// Replace the graph named `graph_name` by `quads` inside `t` when they differ.
fn sync_graph(
    store: &Store,
    graph_name: NamedNodeRef<'_>,
    quads: &[Quad],
) -> Result<bool, GraphError> {
    let stored: HashSet<Quad> = store
        .quads_for_pattern(None, None, None, Some(graph_name.into()))
        .collect::<Result<_, _>>()?;
    let wanted: HashSet<Quad> = quads.iter().cloned().collect();
    if stored == wanted {
        return Ok(false);
    }
    let mut t = store.start_transaction()?;
    t.remove_named_graph(graph_name)?;
    t.extend(quads.iter());
    t.commit()?;
    Ok(true)
}

/// Reports and mentions per count key, as a load sums them.
type Tallies = FxHashMap<CountKey, (u64, u64)>;

/// Two tallies summed (the smaller into the larger).
fn merge_tallies(a: Tallies, b: Tallies) -> Tallies {
    let (mut big, small) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    for (k, (r, n)) in small {
        let t = big.entry(k).or_default();
        t.0 += r;
        t.1 += n;
    }
    big
}

/// Body-part mentions of a chunk and those linked to a coronary vessel (load summary).
fn count_bp_mentions(built: &[BuiltReport], described: &Described, summary: &mut LoadSummary) {
    for (e, mentions) in built.iter().flat_map(|b| &b.entities) {
        if e.type_code == "Bp" {
            summary.bp_mentions += mentions;
            if described.get(e.iri()).is_some_and(|d| d.1.linked) {
                summary.bp_mentions_linked += mentions;
            }
        }
    }
}

/// Load report graphs (and the ontology, the segment concepts, the counts) into the store at
/// `dir`.
pub fn load(
    dir: &Path,
    cx: &LoadContext<'_>,
    reports: &[ReportInput<'_>],
    run: &RunInfo,
) -> Result<LoadSummary, GraphError> {
    let t0 = Instant::now();
    // Freed memory stays with the allocator until the load returns (allocator.rs says why).
    let _keep = super::allocator::KeepFreedMemory::new();
    let ontology = turtle_quads(cx.ontology_ttl, ontology_graph().into_owned().into())?;
    let concepts = concept_quads(cx.table, cx.vocab);
    let mut summary = LoadSummary {
        reports: reports.len(),
        shape_constraints: cx.shapes.len(),
        ..Default::default()
    };
    for r in reports {
        summary.triples += r.triples.len();
        for t in &r.triples {
            *summary
                .per_relation
                .entry(t.relation.to_owned())
                .or_default() += 1;
        }
    }
    let runs: HashSet<&RunInfo> = reports.iter().map(|r| r.run.unwrap_or(run)).collect();
    let store = open_store(dir)?;
    let mut described: Described = FxHashMap::default();
    let mut checked = Checked::new(cx.shapes);
    if store.is_empty()? {
        // A fresh store, one pass: each chunk is built, checked and handed to the bulk loader,
        // which writes nothing visible until its commit; a violation in any chunk returns
        // before the commit, and dropping the loader deletes what it had prepared.
        //
        // One stream for the whole load: a thread builds and checks the chunks while the
        // loader writes the batches it cuts from the stream. (One `load_quads` call per chunk
        // flushed each chunk as its own small batch, with nothing built meanwhile: at 100,000
        // reports the store came out 1.7 times the size of Oxigraph's own load of the same
        // quads — each batch writes its strings again — and the load ran at 0.66 of it.)
        summary.bulk = true;
        summary.ontology_updated = true;
        let mut loader = store.bulk_loader();
        let mut fixed = ontology;
        fixed.extend(concepts.iter().cloned());
        fixed.extend(mark_quads(cx.vocab, cx.table));
        for r in &runs {
            fixed.extend(run_quads(r, cx.vocab));
        }
        summary.quads_written += fixed.len();
        // Chunks travel as one vector per report: nothing is copied into one big vector on the
        // building thread, which the loader would only take apart again.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Vec<Vec<Quad>>, GraphError>>(1);
        let loaded: Result<(), GraphError> = std::thread::scope(|scope| {
            let (summary, described, checked) = (&mut summary, &mut described, &mut checked);
            let concepts = &concepts;
            scope.spawn(move || {
                let mut totals = Tallies::default();
                for chunk in reports.chunks(CHECK_CHUNK) {
                    let built = match build_checked(chunk, run, cx, described, checked, concepts) {
                        Ok(b) => b,
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    };
                    count_bp_mentions(&built, described, summary);
                    let described = &*described;
                    // Per report, in parallel: its count keys and the quads that file the
                    // report under them; the keys' tallies summed per rayon task, so this
                    // thread only merges one map per task into the load's totals.
                    let (quads, chunk_totals): (Vec<Vec<Quad>>, Vec<ReportKeys>) = built
                        .into_par_iter()
                        .map(|b| {
                            let keys =
                                report_keys(&b.quads, cx.vocab, &mut |e| facts(described, e));
                            let mut quads = b.quads;
                            quads.extend(counts::membership_quads(&b.graph, &keys, cx.vocab));
                            (quads, keys)
                        })
                        .unzip();
                    let tallies = chunk_totals
                        .into_par_iter()
                        .fold(FxHashMap::default, |mut m: Tallies, keys| {
                            for (k, n) in keys {
                                let t = m.entry(k).or_default();
                                t.0 += 1;
                                t.1 += n;
                            }
                            m
                        })
                        .reduce(FxHashMap::default, merge_tallies);
                    totals = merge_tallies(totals, tallies);
                    let n: usize = quads.iter().map(Vec::len).sum();
                    summary.report_quads += n;
                    summary.quads_written += n;
                    if tx.send(Ok(quads)).is_err() {
                        return; // the loader stopped: its error is the load's
                    }
                }
                let mut rest = counts::count_quads(&totals, cx.vocab);
                rest.extend(ranking::initial_quads(
                    totals.iter().map(|(k, (reports, _))| (k, *reports)),
                    cx.vocab,
                    &mut |o| {
                        described
                            .get(o)
                            .and_then(|d| d.2.stenosis_max.as_deref())
                            .and_then(ranking::Percent::parse)
                    },
                ));
                summary.count_keys_touched = totals.len();
                for k in totals.keys() {
                    if let CountKey::Entity(e) = k {
                        if let Some((q, ..)) = described.get(e) {
                            rest.extend(q.iter().cloned());
                            summary.entities_added += 1;
                        }
                    }
                }
                summary.quads_written += rest.len();
                let _ = tx.send(Ok(vec![rest]));
            });
            let stream = fixed.into_iter().map(Ok).chain(rx.into_iter().flat_map(
                |chunk| -> Box<dyn Iterator<Item = Result<Quad, GraphError>>> {
                    match chunk {
                        Ok(quads) => Box::new(quads.into_iter().flatten().map(Ok)),
                        Err(e) => Box::new(std::iter::once(Err(e))),
                    }
                },
            ));
            loader.load_ok_quads::<GraphError, GraphError>(stream)
        });
        loaded?;
        // Nothing is in the store until this commit.
        loader.commit()?;
        // The bulk loader ingests each batch as its own sorted file, and the hashed keys of
        // every batch overlap: left so, each index look-up merges across all of them. One
        // compaction leaves one sorted run per index. Measured at 100,000 reports
        // (BENCHMARKS.md): 38 s after a 174 s load; the segment-stenosis question 2.8 s → 0.43 s,
        // provenance 282 → 64 ms; the store grows from 2.6 to 4.4 GiB (Oxigraph compacts the
        // last level uncompressed). Nightly transactional loads are compacted by RocksDB itself.
        let t = Instant::now();
        store.optimize()?;
        summary.optimize_seconds = t.elapsed().as_secs_f64();
        // Every quad written is distinct (each graph's are, and no two graphs share a name),
        // so the store holds exactly what was written: no scan needed to count it.
        summary.store_quads = summary.quads_written;
    } else {
        check_mark(dir, &store, cx.vocab, cx.table)?;
        // Pass 1: build and check everything; nothing reaches the store unless every shape
        // holds (transactions commit chunk by chunk, so the check cannot wait for the last).
        // Quads are built a chunk at a time (rayon inside a chunk), so memory stays bounded by
        // the chunk and the distinct entities; building is cheap next to writing, so the
        // write pass builds again.
        for chunk in reports.chunks(CHECK_CHUNK) {
            let built = build_checked(chunk, run, cx, &mut described, &mut checked, &concepts)?;
            summary.report_quads += built.iter().map(|b| b.quads.len()).sum::<usize>();
            count_bp_mentions(&built, &described, &mut summary);
        }
        // The ontology and segment graphs: replaced only when their source changed.
        summary.ontology_updated = sync_graph(&store, ontology_graph(), &ontology)?;
        sync_graph(
            &store,
            NamedNodeRef::new_unchecked(SEGMENTS_GRAPH),
            &concepts,
        )?;
        let mut t = store.start_transaction()?;
        for r in &runs {
            t.extend(run_quads(r, cx.vocab).iter());
        }
        t.commit()?;
        for chunk in reports.chunks(REPORTS_PER_TRANSACTION) {
            let built: Vec<BuiltReport> = chunk
                .par_iter()
                .map(|r| report_graph(r, run, cx.vocab, cx.provenance))
                .collect::<Result<_, _>>()
                .map_err(GraphError::Invalid)?;
            let mut t = store.start_transaction()?;
            let mut deltas = Deltas::new();
            for b in &built {
                if remove_report(&mut t, b.graph.as_ref(), cx.vocab, &mut deltas)? {
                    summary.replaced += 1;
                }
                t.insert_named_graph(b.graph.as_ref());
                t.extend(b.quads.iter());
                let keys = report_keys(&b.quads, cx.vocab, &mut |e| facts(&described, e));
                let members = counts::membership_quads(&b.graph, &keys, cx.vocab);
                t.extend(members.iter());
                summary.quads_written += b.quads.len() + members.len();
                summary.report_quads += members.len();
                add_keys(&mut deltas, &keys, 1);
            }
            let applied = counts::apply(&mut t, &deltas, cx.vocab, &mut |e| {
                described.get(e).map(|d| d.0.clone())
            })?;
            summary.count_keys_touched += applied.keys_touched;
            summary.entities_added += applied.entities_added;
            summary.entities_removed += applied.entities_removed;
            summary.rankings_rebuilt +=
                ranking::update(&mut t, &applied, cx.vocab)?.listings_rebuilt;
            t.commit()?;
        }
        store.flush()?;
        summary.store_quads = store.len()?;
    }
    for (_, stats, _) in described.values() {
        summary.values_parsed += stats.values;
        for k in &stats.unparsed {
            *summary.values_unparsed.entry(format!("{k:?}")).or_default() += 1;
        }
    }
    summary.seconds = t0.elapsed().as_secs_f64();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::TripleRow;
    use crate::graph::testkit::{dump, Kit};

    use crate::graph::testkit::triple as t;

    fn report<'a>(id: &'a str, hash: &'a str, triples: Vec<TripleRow>) -> ReportInput<'a> {
        ReportInput {
            report_id: id,
            content_hash: hash,
            patient_id: None,
            date: None,
            department: Some("心内科"),
            triples: triples.into_iter().map(std::borrow::Cow::Owned).collect(),
            run: None,
        }
    }

    struct Fx(Kit);

    impl Fx {
        fn new() -> Fx {
            Fx(Kit::new())
        }
        fn cx(&self) -> LoadContext<'_> {
            self.0.cx()
        }
        fn load(&self, dir: &Path, reports: &[ReportInput<'_>]) -> Result<LoadSummary, GraphError> {
            load(dir, &self.cx(), reports, &self.0.run)
        }
    }

    #[test]
    fn a_store_another_writer_holds_is_reported_as_locked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let _first = open_store(&path).unwrap();
        match open_store(&path) {
            Err(e @ GraphError::Locked { .. }) => {
                assert!(
                    e.to_string()
                        .contains("another cbrrel process is writing it"),
                    "{e}"
                )
            }
            Err(other) => panic!("expected Locked, got {other:?}"),
            Ok(_) => panic!("a second writer opened a locked store"),
        }
        // Readers are not locked out.
        assert!(open_read_only(&path).is_ok());
    }

    #[test]
    fn bulk_load_then_replace_one_report_converges_to_a_clean_load() {
        let fx = Fx::new();
        let dir = tempfile::tempdir().unwrap();
        let a = report(
            "A",
            "h1",
            vec![t("BpSy", ("前降支近段", "Bp", 0), ("狭窄80%", "Sy", 5))],
        );
        let b = report(
            "B",
            "h2",
            vec![
                t("BpSy", ("LAD近段", "Bp", 3), ("狭窄90%", "Sy", 9)),
                t("BpTm", ("前降支近段", "Bp", 3), ("支架植入术", "Tm", 20)),
                t("McBp", ("3.0*18mm支架", "Mc", 30), ("LAD近段", "Bp", 3)),
            ],
        );
        let first = fx.load(dir.path(), &[a.clone(), b.clone()]).unwrap();
        assert!(first.bulk && first.ontology_updated);
        assert_eq!(
            (first.triples, first.bp_mentions, first.bp_mentions_linked),
            (4, 4, 4)
        );
        assert_eq!(first.entities_added, 6);
        let stent_nodes = |dir: &Path| {
            dump(dir)
                .iter()
                .filter(|q| {
                    q.split(' ').nth(1) == Some("<https://w3id.org/cbrrel/ontology#stentVessel>")
                })
                .count()
        };
        assert_eq!(stent_nodes(dir.path()), 1, "B's stent in the LAD");
        let n = first.store_quads;
        // The same input again: nothing changes.
        let again = fx.load(dir.path(), &[a.clone(), b.clone()]).unwrap();
        assert!(!again.bulk && !again.ontology_updated);
        assert_eq!(
            (again.store_quads, again.replaced, again.entities_added),
            (n, 2, 0)
        );
        // Report B changes: its old finding and its treatment are gone (the treatment's entity
        // node with them), A's are untouched; the store equals a clean load of A and B2.
        // B2 also asserts A's link, whose count (and tally) goes from 1 to 2.
        let b2 = report(
            "B",
            "h3",
            vec![
                t("BpSy", ("前降支近段", "Bp", 3), ("狭窄50%", "Sy", 9)),
                t("BpSy", ("前降支近段", "Bp", 3), ("狭窄80%", "Sy", 20)),
            ],
        );
        let s = fx.load(dir.path(), std::slice::from_ref(&b2)).unwrap();
        assert_eq!(
            (s.replaced, s.entities_removed),
            (1, 4),
            "LAD近段, 狭窄90%, 支架植入术 and the stent have no report left"
        );
        assert_eq!(stent_nodes(dir.path()), 0, "no stale stent count");
        let clean = tempfile::tempdir().unwrap();
        fx.load(clean.path(), &[a.clone(), b2.clone()]).unwrap();
        assert_eq!(
            dump(dir.path()),
            dump(clean.path()),
            "incremental load = clean load"
        );
        // The tallies followed the counts: one per link, at its current report count.
        let store = Store::open_read_only(dir.path()).unwrap();
        let tallies = crate::graph::query::query_store(
            &store,
            "PREFIX cb: <https://w3id.org/cbrrel/ontology#> SELECT ?f ?n WHERE { GRAPH <https://w3id.org/cbrrel/graph/entities> { ?bp cb:normalizedText \"前降支近段\" } GRAPH <https://w3id.org/cbrrel/graph/counts> { ?bp cb:hasFindingTally <<( ?sy cb:reports ?n )>> } GRAPH <https://w3id.org/cbrrel/graph/entities> { ?sy cb:normalizedText ?f } } ORDER BY ?f",
            crate::graph::query::ResultFormat::Csv,
            &mut Vec::new(),
            None,
        )
        .unwrap();
        assert_eq!(tallies, 2, "no stale tally beside the new one");
        let mut csv = Vec::new();
        crate::graph::query::query_store(
            &store,
            "PREFIX cb: <https://w3id.org/cbrrel/ontology#> SELECT ?n WHERE { GRAPH <https://w3id.org/cbrrel/graph/counts> { ?bp cb:hasFindingTally <<( ?sy cb:reports ?n )>> } } ORDER BY ?n",
            crate::graph::query::ResultFormat::Csv,
            &mut csv,
            None,
        )
        .unwrap();
        assert_eq!(String::from_utf8(csv).unwrap(), "n\r\n1\r\n2\r\n");
        drop(store);
        let hashes = stored_hashes(dir.path(), &fx.0.vocab).unwrap();
        assert_eq!(hashes.get("B").map(String::as_str), Some("h3"));
        assert_eq!(hashes.get("A").map(String::as_str), Some("h1"));
    }

    #[test]
    fn a_builder_refusal_stops_the_load_before_the_store_is_touched() {
        let fx = Fx::new();
        let dir = tempfile::tempdir().unwrap();
        // BpSy with a treatment as subject: the builder refuses the signature.
        let bad = report(
            "X",
            "h",
            vec![t("BpSy", ("支架植入术", "Tm", 0), ("狭窄80%", "Sy", 6))],
        );
        let good = report(
            "Y",
            "h",
            vec![t("BpSy", ("前降支", "Bp", 0), ("狭窄80%", "Sy", 6))],
        );
        let err = fx.load(dir.path(), &[good, bad]).unwrap_err();
        assert!(matches!(err, GraphError::Invalid(_)), "{err}");
        let store = Store::open_read_only(dir.path());
        assert!(store.map(|s| s.is_empty().unwrap()).unwrap_or(true));
    }

    #[test]
    fn an_old_layout_or_another_segment_table_is_refused() {
        let fx = Fx::new();
        let dir = tempfile::tempdir().unwrap();
        {
            // A store of the first layout: a report graph and no store mark.
            let store = Store::open(dir.path()).unwrap();
            store
                .load_from_slice(
                    RdfFormat::TriG,
                    "<https://w3id.org/cbrrel/data/report/A> { <https://w3id.org/cbrrel/data/report/A> <https://w3id.org/cbrrel/ontology#reportId> \"A\" . }",
                )
                .unwrap();
        }
        let a = report(
            "A",
            "h1",
            vec![t("BpSy", ("前降支近段", "Bp", 0), ("狭窄80%", "Sy", 5))],
        );
        let err = fx.load(dir.path(), std::slice::from_ref(&a)).unwrap_err();
        assert!(
            matches!(err, GraphError::OldLayout { found: None, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("--rebuild"), "{err}");
        let fresh = tempfile::tempdir().unwrap();
        fx.load(fresh.path(), std::slice::from_ref(&a)).unwrap();
        let mut edited = fx.0.table.clone();
        edited = SegmentTable::parse(&format!(
            "{}\n",
            crate::graph::segments::SEGMENTS_TOML.replace("前降支", "前降枝")
        ))
        .unwrap_or(edited);
        let cx = LoadContext {
            table: &edited,
            ..fx.cx()
        };
        if edited.content_hash() != fx.0.table.content_hash() {
            let err = load(fresh.path(), &cx, &[a], &fx.0.run).unwrap_err();
            assert!(matches!(err, GraphError::TableChanged { .. }), "{err}");
        }
    }
}

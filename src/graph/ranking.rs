//! Rankings: the first pages of the store-wide listings, kept in order by the load (issue 8
//! §1 and §4: the aggregates a clinician opens every day answer in milliseconds).
//!
//! "Findings per body part", "treatments per body part", "examinations and their findings",
//! "findings per segment" and "body parts with stenosis ≥ N %" have one row per distinct link
//! (84,000–120,000 rows at 100,000 reports for the largest, 3–7 s to read and sort however the
//! counts are stored: BENCHMARKS.md, layout 5), and a global "first 100" still reads all of
//! them. A clinician reads the first pages, so
//! the counts graph keeps each listing's first [`RANKED`] rows, in order, one entry per rank:
//!
//! ```text
//! <…/counts/ranking/symptoms_per_body_part/1> cb:inRanking <…/counts/ranking/symptoms_per_body_part> ;
//!     cb:rank 1 ; cb:rankedSubject <body part> ; cb:rankedObject <finding> ; cb:reports 412 .
//! ```
//!
//! (`cb:percent` too in the stenosis listing), and the listing node says how many entries it
//! has (`cb:rankedEntries`) and how many rows the whole listing has (`cb:listingRows`, kept
//! from the changes: +1 for a link's first report, −1 when its last goes). A page is a scan of at most [`RANKED`] entries plus the texts of
//! its rows; the whole listing stays a query away (ontology/exports/, an export).
//!
//! **Order.** The stenosis listing by percent, highest first, then reports; the others by
//! reports; ties by subject and then object IRI. A total order, so a ranking is a function of
//! the counts alone: the same store however it was loaded (one bulk load, nightly batches,
//! replaced or retracted reports).
//!
//! **Kept incrementally.** The counts graph knows each link whose report count a
//! transaction changed, before and after ([`super::counts::apply`]). The stored entries are
//! the exact top of the order, so every link outside them sorts after the last entry (the
//! boundary): a changed link enters when it now sorts before the boundary, an entry that now
//! sorts after it leaves. If nothing changed reaches the boundary, only the boundary entry is
//! read. Only when entries leave and too few enter — a retraction or a replaced report
//! lowering a ranked link, while links outside may exist — is the listing rebuilt from its
//! tallies (one scan of the tally property; never while nightly loads only add reports).

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use oxigraph::model::vocab::xsd;
use oxigraph::model::{Literal, NamedNode, NamedOrBlankNode, Quad, Term};
use oxigraph::store::Transaction;

use super::counts::{int, tally_predicate, Applied, Change, CountKey};
use super::rdf::{graph, Vocabulary, COUNTS_GRAPH, DATA_BASE, ENTITIES_GRAPH};
use super::GraphError;

/// Entries kept per listing: ten pages of 100 rows.
pub const RANKED: usize = 1000;

/// A ranked listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Listing {
    /// (body part, finding) links (`cb:hasFinding`), most reports first.
    SymptomsPerBodyPart,
    /// (body part, treatment) links (`cb:treatedBy`), most reports first.
    TreatmentsPerBodyPart,
    /// (examination, finding) links (`cb:revealsFinding`), most reports first.
    ExaminationsAndFindings,
    /// (segment or vessel, finding) site findings, most reports first.
    FindingsPerSegment,
    /// (body part, finding) links whose finding has a stenosis percent (`cb:stenosisMax`),
    /// highest percent first, then most reports.
    BodyPartsWithStenosis,
}

impl Listing {
    pub const ALL: [Listing; 5] = [
        Listing::SymptomsPerBodyPart,
        Listing::TreatmentsPerBodyPart,
        Listing::ExaminationsAndFindings,
        Listing::FindingsPerSegment,
        Listing::BodyPartsWithStenosis,
    ];

    /// The name of the shipped question that reads it (ontology/queries/<name>.rq).
    pub fn name(self) -> &'static str {
        match self {
            Listing::SymptomsPerBodyPart => "symptoms_per_body_part",
            Listing::TreatmentsPerBodyPart => "treatments_per_body_part",
            Listing::ExaminationsAndFindings => "examinations_and_findings",
            Listing::FindingsPerSegment => "findings_per_segment",
            Listing::BodyPartsWithStenosis => "body_parts_with_stenosis",
        }
    }

    /// The listing's node (`…/counts/ranking/<name>`).
    pub fn node(self) -> NamedNode {
        NamedNode::new_unchecked(format!("{DATA_BASE}counts/ranking/{}", self.name()))
    }

    /// The node of the entry at `rank` (1-based).
    fn entry_node(self, rank: usize) -> NamedNode {
        NamedNode::new_unchecked(format!("{DATA_BASE}counts/ranking/{}/{rank}", self.name()))
    }

    fn by_percent(self) -> bool {
        self == Listing::BodyPartsWithStenosis
    }

    /// The relation code whose links the listing ranks (`None`: site findings).
    fn relation(self) -> Option<&'static str> {
        match self {
            Listing::SymptomsPerBodyPart | Listing::BodyPartsWithStenosis => Some("BpSy"),
            Listing::TreatmentsPerBodyPart => Some("BpTm"),
            Listing::ExaminationsAndFindings => Some("InSy"),
            Listing::FindingsPerSegment => None,
        }
    }

    /// The (subject, object) of a key the listing may rank (before the percent check).
    fn pair<'k>(
        self,
        k: &'k CountKey,
        vocab: &Vocabulary,
    ) -> Option<(&'k NamedNode, &'k NamedNode)> {
        match (k, self.relation()) {
            (CountKey::Link(s, p, o), Some(code)) if vocab.property(code) == Some(p) => {
                Some((s, o))
            }
            (CountKey::SiteFinding(x, o), None) => Some((x, o)),
            _ => None,
        }
    }

    /// The tally property a rebuild scans.
    fn tally(self, vocab: &Vocabulary) -> Result<NamedNode, GraphError> {
        match self.relation() {
            Some(code) => vocab
                .property(code)
                .map(tally_predicate)
                .ok_or_else(|| GraphError::Inconsistent(format!("no relation {code}"))),
            None => Ok(vocab.term("siteFindingTally")),
        }
    }
}

/// A stenosis percent: its value for the order, its `xsd:decimal` lexical form for the entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Percent {
    pub value: f64,
    pub lexical: String,
}

impl Percent {
    pub fn parse(lexical: &str) -> Option<Percent> {
        Some(Percent {
            value: lexical.parse().ok()?,
            lexical: lexical.to_owned(),
        })
    }
}

/// One row of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub percent: Option<Percent>,
    pub reports: u64,
    pub subject: NamedNode,
    pub object: NamedNode,
}

/// The listings' order: percent (highest first), reports (most first), subject, object.
/// `Less` = ranked earlier.
pub fn order(a: &Entry, b: &Entry) -> Ordering {
    let pa = a.percent.as_ref().map_or(0.0, |p| p.value);
    let pb = b.percent.as_ref().map_or(0.0, |p| p.value);
    pb.total_cmp(&pa)
        .then(b.reports.cmp(&a.reports))
        .then_with(|| a.subject.as_str().cmp(b.subject.as_str()))
        .then_with(|| a.object.as_str().cmp(b.object.as_str()))
}

/// The first `k` entries in order, and whether they are all of them.
pub fn top(mut all: Vec<Entry>, k: usize) -> (Vec<Entry>, bool) {
    let complete = all.len() <= k;
    if !complete {
        if k == 0 {
            all.clear();
        } else {
            all.select_nth_unstable_by(k - 1, order);
            all.truncate(k);
        }
    }
    all.sort_by(order);
    (all, complete)
}

fn quad(s: &NamedNode, p: NamedNode, o: impl Into<Term>) -> Quad {
    Quad::new(s.clone(), p, o, graph(COUNTS_GRAPH))
}

/// The quads of rank `rank` that do not change with its row: membership and rank number.
fn position_quads(listing: Listing, rank: usize, vocab: &Vocabulary) -> [Quad; 2] {
    let n = listing.entry_node(rank);
    [
        quad(&n, vocab.term("inRanking"), listing.node()),
        quad(&n, vocab.term("rank"), int(rank as u64)),
    ]
}

/// The quads of the row at `rank`.
fn row_quads(listing: Listing, rank: usize, e: &Entry, vocab: &Vocabulary) -> Vec<Quad> {
    let n = listing.entry_node(rank);
    let mut out = vec![
        quad(&n, vocab.term("rankedSubject"), e.subject.clone()),
        quad(&n, vocab.term("rankedObject"), e.object.clone()),
        quad(&n, vocab.term("reports"), int(e.reports)),
    ];
    if let Some(p) = &e.percent {
        out.push(quad(
            &n,
            vocab.term("percent"),
            Literal::new_typed_literal(p.lexical.as_str(), xsd::DECIMAL),
        ));
    }
    out
}

fn header_quads(listing: Listing, len: usize, rows: usize, vocab: &Vocabulary) -> [Quad; 2] {
    let n = listing.node();
    [
        quad(&n, vocab.term("rankedEntries"), int(len as u64)),
        quad(&n, vocab.term("listingRows"), int(rows as u64)),
    ]
}

fn write_header(
    t: &mut Transaction<'_>,
    listing: Listing,
    old: (usize, usize),
    new: (usize, usize),
    vocab: &Vocabulary,
) {
    if old != new {
        for q in header_quads(listing, old.0, old.1, vocab) {
            t.remove(&q);
        }
        t.extend(header_quads(listing, new.0, new.1, vocab).iter());
    }
}

/// What the listings say about a fresh store whose counts are `totals` (the bulk load):
/// key → reports; `percent(finding)` is the finding's `cb:stenosisMax`, if any.
pub fn initial_quads<'k>(
    totals: impl IntoIterator<Item = (&'k CountKey, u64)>,
    vocab: &Vocabulary,
    percent: &mut dyn FnMut(&NamedNode) -> Option<Percent>,
) -> Vec<Quad> {
    initial_quads_k(totals, vocab, percent, RANKED)
}

fn initial_quads_k<'k>(
    totals: impl IntoIterator<Item = (&'k CountKey, u64)>,
    vocab: &Vocabulary,
    percent: &mut dyn FnMut(&NamedNode) -> Option<Percent>,
    k: usize,
) -> Vec<Quad> {
    let mut rows: HashMap<Listing, Vec<Entry>> = HashMap::new();
    for (k, reports) in totals {
        if reports == 0 {
            continue;
        }
        for listing in Listing::ALL {
            let Some((s, o)) = listing.pair(k, vocab) else {
                continue;
            };
            let pct = if listing.by_percent() {
                match percent(o) {
                    Some(p) => Some(p),
                    None => continue,
                }
            } else {
                None
            };
            rows.entry(listing).or_default().push(Entry {
                percent: pct,
                reports,
                subject: s.clone(),
                object: o.clone(),
            });
        }
    }
    let mut out = Vec::new();
    for listing in Listing::ALL {
        let all = rows.remove(&listing).unwrap_or_default();
        let n = all.len();
        let (entries, _) = top(all, k);
        out.extend(header_quads(listing, entries.len(), n, vocab));
        for (i, e) in entries.iter().enumerate() {
            out.extend(position_quads(listing, i + 1, vocab));
            out.extend(row_quads(listing, i + 1, e, vocab));
        }
    }
    out
}

/// What [`update`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Updated {
    /// Listings whose entries were read and rewritten.
    pub listings_merged: usize,
    /// Listings rebuilt from their tallies.
    pub listings_rebuilt: usize,
}

/// Bring every listing up to date with what [`super::counts::apply`] did, inside the same
/// transaction (after it wrote the counts).
pub fn update(
    t: &mut Transaction<'_>,
    applied: &Applied,
    vocab: &Vocabulary,
) -> Result<Updated, GraphError> {
    let gone = applied
        .gone
        .iter()
        .map(|(e, p)| (e.clone(), p.as_deref().and_then(Percent::parse)))
        .collect();
    update_k(t, &applied.changes, vocab, RANKED, gone)
}

/// [`update`] keeping at most `k` entries. `gone` holds the stenosis percent (or none) of
/// each finding whose entity node the transaction removed with its last link, read before it
/// went; any other finding's is read from the entities graph.
fn update_k(
    t: &mut Transaction<'_>,
    changes: &[Change],
    vocab: &Vocabulary,
    k: usize,
    gone: HashMap<NamedNode, Option<Percent>>,
) -> Result<Updated, GraphError> {
    let mut done = Updated::default();
    let mut percents = gone;
    for listing in Listing::ALL {
        match update_listing(t, listing, changes, vocab, k, &mut percents)? {
            Some(true) => done.listings_rebuilt += 1,
            Some(false) => done.listings_merged += 1,
            None => {}
        }
    }
    Ok(done)
}

fn percent_of(
    t: &Transaction<'_>,
    o: &NamedNode,
    vocab: &Vocabulary,
    percents: &mut HashMap<NamedNode, Option<Percent>>,
) -> Result<Option<Percent>, GraphError> {
    if let Some(p) = percents.get(o) {
        return Ok(p.clone());
    }
    let p = stored_percent(t, o, vocab)?;
    percents.insert(o.clone(), p.clone());
    Ok(p)
}

/// `None`: nothing to do; `Some(rebuilt)`: rewritten, from its tallies when `rebuilt`.
fn update_listing(
    t: &mut Transaction<'_>,
    listing: Listing,
    changes: &[Change],
    vocab: &Vocabulary,
    k: usize,
    percents: &mut HashMap<NamedNode, Option<Percent>>,
) -> Result<Option<bool>, GraphError> {
    // (entry before, entry after) of each changed row: reports 0 = not a row.
    let mut moved: Vec<(Entry, Entry)> = Vec::new();
    for (key, before, after) in changes {
        let Some((s, o)) = listing.pair(key, vocab) else {
            continue;
        };
        let pct = if listing.by_percent() {
            match percent_of(t, o, vocab, percents)? {
                Some(p) => Some(p),
                None => continue, // a finding without a percent is no stenosis row
            }
        } else {
            None
        };
        let e = |reports: u64| Entry {
            percent: pct.clone(),
            reports,
            subject: s.clone(),
            object: o.clone(),
        };
        moved.push((e(*before), e(*after)));
    }
    if moved.is_empty() {
        return Ok(None);
    }
    let (len, rows) = read_header(t, listing, vocab)?;
    let mut rows_now = rows as i64;
    for (b, a) in &moved {
        rows_now += i64::from(a.reports > 0) - i64::from(b.reports > 0);
    }
    if rows_now < 0 {
        return Err(GraphError::Inconsistent(format!(
            "ranking {} would have {rows_now} rows (run `cbrrel load --rebuild`)",
            listing.name()
        )));
    }
    let rows_now = rows_now as usize;
    let complete = rows == len;
    if len >= k && !complete {
        // Full, with rows outside: if nothing reaches the boundary, the entries stay (the row
        // count may still change).
        let boundary = read_entry(t, listing, len, vocab)?;
        let outside = |e: &Entry| e.reports == 0 || order(e, &boundary) == Ordering::Greater;
        if moved.iter().all(|(b, a)| outside(b) && outside(a)) {
            if rows_now != rows {
                write_header(t, listing, (len, rows), (len, rows_now), vocab);
            }
            return Ok(None);
        }
    }
    let old = read_entries(t, listing, len, vocab)?;
    // Every row outside the entries sorts after the last of them.
    let boundary = if complete { None } else { old.last() };
    let touched: HashSet<(&NamedNode, &NamedNode)> =
        moved.iter().map(|(_, a)| (&a.subject, &a.object)).collect();
    let mut list: Vec<Entry> = old
        .iter()
        .filter(|e| !touched.contains(&(&e.subject, &e.object)))
        .cloned()
        .collect();
    for (_, after) in &moved {
        let enters =
            after.reports > 0 && boundary.is_none_or(|b| order(after, b) != Ordering::Greater);
        if enters {
            list.push(after.clone());
        }
    }
    list.sort_by(order);
    list.truncate(k);
    // Too few entries while rows lie outside them: which come next is only known from the
    // tallies.
    let rebuilt = list.len() < k.min(rows_now);
    if rebuilt {
        let all = scan(t, listing, vocab, percents)?;
        if all.len() != rows_now {
            return Err(GraphError::Inconsistent(format!(
                "ranking {} counts {rows_now} rows but its tallies hold {} (run `cbrrel load --rebuild`)",
                listing.name(),
                all.len()
            )));
        }
        list = top(all, k).0;
    }
    write(t, listing, &old, &list, vocab);
    write_header(t, listing, (len, rows), (list.len(), rows_now), vocab);
    Ok(Some(rebuilt))
}

/// Every row of a listing, from its tallies.
fn scan(
    t: &Transaction<'_>,
    listing: Listing,
    vocab: &Vocabulary,
    percents: &mut HashMap<NamedNode, Option<Percent>>,
) -> Result<Vec<Entry>, GraphError> {
    let counts = graph(COUNTS_GRAPH);
    let tally = listing.tally(vocab)?;
    let mut rows = Vec::new();
    let quads: Vec<Quad> = t
        .quads_for_pattern(None, Some(tally.as_ref()), None, Some(counts.as_ref()))
        .collect::<Result<_, _>>()?;
    for q in quads {
        let (NamedOrBlankNode::NamedNode(s), Term::Triple(tt)) = (q.subject, q.object) else {
            continue;
        };
        let (NamedOrBlankNode::NamedNode(o), Term::Literal(n)) = (&tt.subject, &tt.object) else {
            continue;
        };
        let reports: u64 = n.value().parse().map_err(|_| {
            GraphError::Inconsistent(format!("tally of {s} is not an integer: {n}"))
        })?;
        let pct = if listing.by_percent() {
            match percent_of(t, o, vocab, percents)? {
                Some(p) => Some(p),
                None => continue,
            }
        } else {
            None
        };
        rows.push(Entry {
            percent: pct,
            reports,
            subject: s,
            object: o.clone(),
        });
    }
    Ok(rows)
}

/// A finding's `cb:stenosisMax` in the entities graph.
fn stored_percent(
    t: &Transaction<'_>,
    finding: &NamedNode,
    vocab: &Vocabulary,
) -> Result<Option<Percent>, GraphError> {
    let p = vocab.term("stenosisMax");
    let entities = graph(ENTITIES_GRAPH);
    let mut it = t.quads_for_pattern(
        Some(finding.as_ref().into()),
        Some(p.as_ref()),
        None,
        Some(entities.as_ref()),
    );
    match it.next() {
        None => Ok(None),
        Some(q) => match q?.object {
            Term::Literal(l) => Ok(Percent::parse(l.value())),
            _ => Ok(None),
        },
    }
}

fn objects(t: &Transaction<'_>, node: &NamedNode) -> Result<HashMap<String, Term>, GraphError> {
    let counts = graph(COUNTS_GRAPH);
    let mut out = HashMap::new();
    for q in t.quads_for_pattern(
        Some(node.as_ref().into()),
        None,
        None,
        Some(counts.as_ref()),
    ) {
        let q = q?;
        out.insert(q.predicate.into_string(), q.object);
    }
    Ok(out)
}

fn local<'a>(vocab: &Vocabulary, props: &'a HashMap<String, Term>, name: &str) -> Option<&'a Term> {
    props.get(vocab.term(name).as_str())
}

/// (entries, rows of the whole listing) as stored.
fn read_header(
    t: &Transaction<'_>,
    listing: Listing,
    vocab: &Vocabulary,
) -> Result<(usize, usize), GraphError> {
    let props = objects(t, &listing.node())?;
    let number = |name: &str| match local(vocab, &props, name) {
        Some(Term::Literal(l)) => l.value().parse::<usize>().ok(),
        _ => None,
    };
    match (number("rankedEntries"), number("listingRows")) {
        (Some(len), Some(rows)) if len <= rows => Ok((len, rows)),
        _ => Err(GraphError::Inconsistent(format!(
            "ranking {} has no readable header (run `cbrrel load --rebuild`)",
            listing.name()
        ))),
    }
}

fn read_entry(
    t: &Transaction<'_>,
    listing: Listing,
    rank: usize,
    vocab: &Vocabulary,
) -> Result<Entry, GraphError> {
    let props = objects(t, &listing.entry_node(rank))?;
    let node = |name: &str| match local(vocab, &props, name) {
        Some(Term::NamedNode(n)) => Some(n.clone()),
        _ => None,
    };
    let lit = |name: &str| match local(vocab, &props, name) {
        Some(Term::Literal(l)) => Some(l.value().to_owned()),
        _ => None,
    };
    let entry = (|| {
        Some(Entry {
            subject: node("rankedSubject")?,
            object: node("rankedObject")?,
            reports: lit("reports")?.parse().ok()?,
            percent: match lit("percent") {
                Some(p) => Some(Percent::parse(&p)?),
                None => None,
            },
        })
    })();
    entry.ok_or_else(|| {
        GraphError::Inconsistent(format!(
            "ranking {} has no readable entry {rank} (run `cbrrel load --rebuild`)",
            listing.name()
        ))
    })
}

/// Rewrite what changed between the stored entries and the new ones, rank by rank.
fn write(
    t: &mut Transaction<'_>,
    listing: Listing,
    old: &[Entry],
    new: &[Entry],
    vocab: &Vocabulary,
) {
    for i in 0..old.len().max(new.len()) {
        let rank = i + 1;
        match (old.get(i), new.get(i)) {
            (Some(a), Some(b)) if a == b => {}
            (Some(a), Some(b)) => {
                for q in row_quads(listing, rank, a, vocab) {
                    t.remove(&q);
                }
                t.extend(row_quads(listing, rank, b, vocab).iter());
            }
            (Some(a), None) => {
                for q in row_quads(listing, rank, a, vocab)
                    .iter()
                    .chain(position_quads(listing, rank, vocab).iter())
                {
                    t.remove(q);
                }
            }
            (None, Some(b)) => {
                t.extend(position_quads(listing, rank, vocab).iter());
                t.extend(row_quads(listing, rank, b, vocab).iter());
            }
            (None, None) => {}
        }
    }
}

/// The first `len` entries, in rank order.
fn read_entries(
    t: &Transaction<'_>,
    listing: Listing,
    len: usize,
    vocab: &Vocabulary,
) -> Result<Vec<Entry>, GraphError> {
    (1..=len)
        .map(|r| read_entry(t, listing, r, vocab))
        .collect()
}

/// The listing's entries as stored, in rank order, and the rows of the whole listing.
#[cfg(test)]
fn stored(
    t: &Transaction<'_>,
    listing: Listing,
    vocab: &Vocabulary,
) -> Result<(Vec<Entry>, usize), GraphError> {
    let (len, rows) = read_header(t, listing, vocab)?;
    Ok((read_entries(t, listing, len, vocab)?, rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::Schema;
    use oxigraph::store::Store;

    /// Two body parts × four findings: 90 %, 70 %, no percent, 100 %.
    const PERCENTS: [Option<&str>; 4] = [Some("90"), Some("70"), None, Some("100")];

    fn node(kind: &str, i: usize) -> NamedNode {
        NamedNode::new_unchecked(format!("https://example.org/{kind}{i}"))
    }

    fn key(vocab: &Vocabulary, link: usize) -> CountKey {
        let p = vocab.property("BpSy").unwrap().clone();
        CountKey::Link(node("bp", link / 4), p, node("sy", link % 4))
    }

    fn tally(vocab: &Vocabulary, link: usize, n: u64) -> Quad {
        let CountKey::Link(s, p, o) = key(vocab, link) else {
            unreachable!()
        };
        quad(
            &s,
            tally_predicate(&p),
            oxigraph::model::Triple::new(o, vocab.term("reports"), int(n)),
        )
    }

    fn percent_quad(vocab: &Vocabulary, finding: usize) -> Option<Quad> {
        PERCENTS[finding].map(|p| {
            Quad::new(
                node("sy", finding),
                vocab.term("stenosisMax"),
                Literal::new_typed_literal(p, xsd::DECIMAL),
                graph(ENTITIES_GRAPH),
            )
        })
    }

    /// What the listing must hold for `counts` (link → reports), computed from scratch.
    fn expected(
        listing: Listing,
        vocab: &Vocabulary,
        counts: &[u64],
        k: usize,
    ) -> (Vec<Entry>, usize) {
        let rows = counts
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .filter_map(|(i, n)| {
                let pct = PERCENTS[i % 4].and_then(Percent::parse);
                if listing.by_percent() && pct.is_none() {
                    return None;
                }
                let CountKey::Link(s, _, o) = key(vocab, i) else {
                    unreachable!()
                };
                Some(Entry {
                    percent: if listing.by_percent() { pct } else { None },
                    reports: *n,
                    subject: s,
                    object: o,
                })
            })
            .collect::<Vec<_>>();
        let n = rows.len();
        (top(rows, k).0, n)
    }

    /// Applies `steps` (each a list of (link, change in reports)) one transaction at a time,
    /// as counts::apply would (tallies rewritten, a finding's entity node gone with its last
    /// link), and checks the two body-part listings against a from-scratch ranking after each.
    /// Returns how many listings were rebuilt from their tallies.
    fn run(steps: &[Vec<(usize, i64)>], k: usize) -> Result<usize, String> {
        let vocab = Vocabulary::from_schema(&Schema::casmed()).unwrap();
        let store = Store::new().unwrap();
        // A fresh store's listings, as its first (bulk) load writes them: empty.
        store
            .extend(initial_quads_k(
                std::iter::empty(),
                &vocab,
                &mut |_| None,
                k,
            ))
            .unwrap();
        let mut counts = [0u64; 8];
        let mut rebuilt = 0;
        for step in steps {
            let before = counts;
            for (link, d) in step {
                counts[*link] = (counts[*link] as i64 + d).max(0) as u64;
            }
            let mut t = store.start_transaction().unwrap();
            let mut changes = Vec::new();
            for link in 0..8 {
                if before[link] == counts[link] {
                    continue;
                }
                changes.push((key(&vocab, link), before[link], counts[link]));
                if before[link] > 0 {
                    t.remove(&tally(&vocab, link, before[link]));
                }
                if counts[link] > 0 {
                    t.insert(&tally(&vocab, link, counts[link]));
                }
            }
            // A finding's entity node goes with its last link; counts::apply hands its percent
            // over as it removes it.
            let mut gone = HashMap::new();
            for finding in 0..4 {
                let alive = |c: &[u64; 8]| c[finding] + c[finding + 4] > 0;
                if alive(&before) && !alive(&counts) {
                    gone.insert(
                        node("sy", finding),
                        PERCENTS[finding].and_then(Percent::parse),
                    );
                }
                if let Some(q) = percent_quad(&vocab, finding) {
                    if alive(&counts) {
                        t.insert(&q);
                    } else {
                        t.remove(&q);
                    }
                }
            }
            let done = update_k(&mut t, &changes, &vocab, k, gone).map_err(|e| e.to_string())?;
            rebuilt += done.listings_rebuilt;
            for listing in [Listing::SymptomsPerBodyPart, Listing::BodyPartsWithStenosis] {
                let got = stored(&t, listing, &vocab).map_err(|e| e.to_string())?;
                let want = expected(listing, &vocab, &counts, k);
                if got != want {
                    return Err(format!(
                        "{listing:?} after {step:?} (counts {counts:?}):\n got {got:?}\nwant {want:?}"
                    ));
                }
            }
            t.commit().unwrap();
        }
        // The same store as a fresh load of the final counts would write.
        let totals: Vec<(CountKey, u64)> = (0..8).map(|i| (key(&vocab, i), counts[i])).collect();
        let fresh = initial_quads_k(
            totals.iter().map(|(key, n)| (key, *n)),
            &vocab,
            &mut |o| {
                let i = (0..4).find(|i| node("sy", *i) == *o)?;
                PERCENTS[i].and_then(Percent::parse)
            },
            k,
        );
        let mut fresh: Vec<String> = fresh.iter().map(|q| q.to_string()).collect();
        let mut kept: Vec<String> = store
            .quads_for_pattern(None, None, None, Some(graph(COUNTS_GRAPH).as_ref()))
            .map(|q| q.unwrap())
            .filter(|q| q.subject.to_string().contains("/counts/ranking/"))
            .filter(|q| {
                Listing::ALL
                    .iter()
                    .filter(|l| {
                        matches!(
                            l,
                            Listing::SymptomsPerBodyPart | Listing::BodyPartsWithStenosis
                        )
                    })
                    .any(|l| q.subject.to_string().contains(l.name()))
            })
            .map(|q| q.to_string())
            .collect();
        fresh.retain(|q| {
            q.contains("symptoms_per_body_part") || q.contains("body_parts_with_stenosis")
        });
        fresh.sort();
        kept.sort();
        if fresh != kept {
            return Err(format!("incremental {kept:#?}\nfresh {fresh:#?}"));
        }
        Ok(rebuilt)
    }

    #[test]
    fn orders_by_percent_then_reports_then_names() {
        let e = |pct: Option<&str>, reports, s: usize, o: usize| Entry {
            percent: pct.and_then(Percent::parse),
            reports,
            subject: node("bp", s),
            object: node("sy", o),
        };
        let (got, complete) = top(
            vec![
                e(Some("70"), 9, 0, 0),
                e(Some("99.5"), 1, 0, 1),
                e(Some("70"), 9, 0, 2),
                e(Some("100"), 1, 1, 0),
                e(Some("70"), 12, 1, 1),
            ],
            4,
        );
        assert!(!complete);
        assert_eq!(
            got,
            [
                e(Some("100"), 1, 1, 0),
                e(Some("99.5"), 1, 0, 1),
                e(Some("70"), 12, 1, 1),
                e(Some("70"), 9, 0, 0),
            ]
        );
    }

    #[test]
    fn growing_shrinking_and_retracting_keep_the_exact_top() {
        // Grows past k (entries pushed out), a ranked link falls below the boundary (a
        // rebuild), a finding's last link goes (its percent unknown by then), all goes.
        let steps = vec![
            vec![(0, 5), (1, 3), (2, 2)],
            vec![(3, 1), (4, 4), (5, 1), (7, 2)],
            vec![(6, 9)],
            vec![(4, -4), (0, -1)],
            vec![(3, -1), (7, -2)],
            vec![(1, 1)],
            (0..8).map(|i| (i, -20)).collect(),
        ];
        let rebuilt = run(&steps, 3).unwrap();
        assert!(rebuilt > 0, "the steps were meant to need a rebuild");
        // With room for every row, no rebuild is ever needed.
        assert_eq!(run(&steps, 10).unwrap(), 0);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn incremental_rankings_equal_a_ranking_from_scratch(
            steps in proptest::collection::vec(
                proptest::collection::vec((0usize..8, -3i64..4), 1..5), 1..12),
            k in 1usize..6,
        ) {
            if let Err(e) = run(&steps, k) {
                proptest::prop_assert!(false, "{}", e);
            }
        }
    }
}

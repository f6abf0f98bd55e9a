//! Scoring predicted triples against gold triples (the paper's §4.3, Tables 4–6).
//!
//! **Matching.** A predicted triple (subject text, relation code, object text) is correct only
//! if the *same record* (matched by id) has that gold triple. Both sides are sets per record: a
//! triple annotated or predicted twice in one record counts once. A gold record without a
//! prediction record is an empty prediction (all its triples are false negatives); a prediction
//! record whose id is not in gold is an [`EvalError::UnknownIds`].
//!
//! **Zero conventions.** P = 0 when nothing is predicted (tp + fp = 0), R = 0 when there is no
//! gold triple (tp + fn = 0), F1 = 0 when P + R = 0. An empty prediction thus scores 0/0/0, never
//! NaN, and never a vacuous 1 — an empty output file must not look like a perfect one.
//!
//! **Names.** Triples compare relation *codes* and entity-type *codes*. A doccano file read
//! with CASMeD says `BpSy`/`Bp`, an spo file read without a schema says `身体部位_症状体征`/`身体部位`;
//! so one side's names are mapped onto the other's schema (gold's, else the prediction's) by
//! code or Chinese name, and every renaming is listed in the report's notes.
//!
//! **Breakdowns.** *Span-exact*: (subject span, code, object span) triples, only when both
//! files carry offsets. *Per relation*: the text triples of one code. *Per overlap class*
//! (Table 5): gold records are cut into units (sentences or whole records); each unit is
//! classed Normal / SEO / EPO by its gold triples (CasRel definitions, entities keyed by
//! string; a unit may be SEO and EPO at once and then counts in both), and a class scores the
//! gold triples of its units against the predicted triples placed in those units. Predicted
//! triples in units without gold triples belong to no class (as in CasRel's class-split test
//! sets), so the three classes need not add up to the overall score. *Per entity type*
//! (Table 6): the entities taking part in triples, as a set of (record, type, text).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::Hash;

use serde::{Deserialize, Serialize};

use super::{EvalError, MAX_EXAMPLES};
use crate::corpus::overlap::{classify, unit_of, OverlapCounts, Unit};
use crate::corpus::{Arg, Corpus, Record, Relation, Schema, SpanTriple, TextTriple};

/// Settings of [`evaluate`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EvalOptions {
    /// What a "sentence" is for the overlap classes; `None`: [`Unit::default_for`] the gold
    /// file's format (sentences for doccano reports, whole records for spo corpora).
    pub unit: Option<Unit>,
}

/// Match counts of one comparison, before they become ratios (so that they can be summed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub tp: usize,
    pub fp: usize,
    #[serde(rename = "fn")]
    pub fn_: usize,
}

impl Counts {
    /// Counts of one gold set against one predicted set.
    pub fn of_sets<T: Eq + Hash>(gold: &HashSet<T>, pred: &HashSet<T>) -> Counts {
        let tp = pred.iter().filter(|t| gold.contains(*t)).count();
        Counts {
            tp,
            fp: pred.len() - tp,
            fn_: gold.len() - tp,
        }
    }

    pub fn add(&mut self, other: Counts) {
        self.tp += other.tp;
        self.fp += other.fp;
        self.fn_ += other.fn_;
    }

    pub fn prf(self) -> Prf {
        Prf::from_counts(self.tp, self.fp, self.fn_)
    }
}

/// Precision, recall and F1 with the counts behind them. Zero conventions: see the module doc.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Prf {
    pub tp: usize,
    pub fp: usize,
    #[serde(rename = "fn")]
    pub fn_: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

impl Prf {
    /// Ratios from counts: P = tp/(tp+fp), R = tp/(tp+fn), F1 = 2PR/(P+R), each 0 when its
    /// denominator is 0.
    pub fn from_counts(tp: usize, fp: usize, fn_: usize) -> Prf {
        let ratio = |num: f64, den: f64| if den > 0.0 { num / den } else { 0.0 };
        let precision = ratio(tp as f64, (tp + fp) as f64);
        let recall = ratio(tp as f64, (tp + fn_) as f64);
        let f1 = ratio(2.0 * precision * recall, precision + recall);
        Prf {
            tp,
            fp,
            fn_,
            precision,
            recall,
            f1,
        }
    }

    /// Gold items behind the score (tp + fn).
    pub fn gold(&self) -> usize {
        self.tp + self.fn_
    }

    /// Predicted items behind the score (tp + fp).
    pub fn predicted(&self) -> usize {
        self.tp + self.fp
    }
}

impl From<Counts> for Prf {
    fn from(c: Counts) -> Prf {
        c.prf()
    }
}

/// Scores per overlap class (the paper's Table 5).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PerOverlap {
    /// The unit classified: sentence or whole record.
    pub unit: Unit,
    /// Gold units per class (`none`: units without gold triples).
    pub units: OverlapCounts,
    pub normal: Prf,
    pub seo: Prf,
    pub epo: Prf,
}

/// Everything `cbrrel eval` reports. The top-level P/R/F1 and counts are the text-triple score
/// (the paper's headline number).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub tp: usize,
    pub fp: usize,
    #[serde(rename = "fn")]
    pub fn_: usize,
    /// Gold records.
    pub records: usize,
    /// Prediction records (every one matches a gold record).
    pub predicted_records: usize,
    /// Distinct gold text triples, summed over records.
    pub gold_triples: usize,
    /// Distinct predicted text triples, summed over records.
    pub predicted_triples: usize,
    /// Span-exact score; `None` unless both files carry offsets (a note says why).
    pub span_exact: Option<Prf>,
    /// By relation code: every code found in gold or predictions.
    pub per_relation: BTreeMap<String, Prf>,
    pub per_overlap: PerOverlap,
    /// By entity type code: every type found in gold or predicted triples.
    pub per_entity_type: BTreeMap<String, Prf>,
    /// What a reader of the numbers should know: skipped parts, missing records, renamings.
    pub notes: Vec<String>,
}

impl EvalReport {
    /// The headline text-triple score as a [`Prf`].
    pub fn overall(&self) -> Prf {
        Prf {
            tp: self.tp,
            fp: self.fp,
            fn_: self.fn_,
            precision: self.precision,
            recall: self.recall,
            f1: self.f1,
        }
    }
}

/// Score `pred` against `gold`; see the module doc for the rules.
pub fn evaluate(gold: &Corpus, pred: &Corpus, opts: &EvalOptions) -> Result<EvalReport, EvalError> {
    let gold_by_id = index_by_id(gold, "gold")?;
    let pred_by_id = index_by_id(pred, "prediction")?;
    let unknown: Vec<&str> = pred
        .records
        .iter()
        .map(|r| r.id.as_str())
        .filter(|id| !gold_by_id.contains_key(id))
        .collect();
    if !unknown.is_empty() {
        return Err(EvalError::UnknownIds {
            count: unknown.len(),
            examples: unknown
                .iter()
                .take(MAX_EXAMPLES)
                .map(|s| s.to_string())
                .collect(),
        });
    }

    let target = gold.schema.as_ref().or(pred.schema.as_ref());
    let mut gold_names = Renamer::new(target, gold.schema.as_ref());
    let mut pred_names = Renamer::new(target, pred.schema.as_ref());
    let unit = opts.unit.unwrap_or_else(|| Unit::default_for(gold.format));
    let with_spans = gold.format.has_offsets() && pred.format.has_offsets();

    let mut overall = Counts::default();
    let mut span = Counts::default();
    let mut per_relation: BTreeMap<String, Counts> = BTreeMap::new();
    let mut per_entity: BTreeMap<String, Counts> = BTreeMap::new();
    let (mut normal, mut seo, mut epo) = (Counts::default(), Counts::default(), Counts::default());
    let mut unit_counts = OverlapCounts::default();
    let (mut gold_triples, mut predicted_triples) = (0, 0);
    let mut missing = 0;
    let mut text_differs: Vec<&str> = Vec::new();

    for g in &gold.records {
        let p = pred_by_id.get(g.id.as_str()).copied();
        missing += usize::from(p.is_none());
        let g_rels = normalize(g, &mut gold_names);
        let p_rels = p.map(|p| normalize(p, &mut pred_names)).unwrap_or_default();

        // Text triples: the headline score and its per-relation split.
        let gt: HashSet<&TextTriple> = g_rels.iter().map(|n| &n.triple).collect();
        let pt: HashSet<&TextTriple> = p_rels.iter().map(|n| &n.triple).collect();
        gold_triples += gt.len();
        predicted_triples += pt.len();
        overall.add(Counts::of_sets(&gt, &pt));
        split_by_key(&gt, &pt, |t| t.1.as_str(), &mut per_relation);

        if with_spans {
            let gs: HashSet<&SpanTriple> = g_rels.iter().filter_map(|n| n.span.as_ref()).collect();
            let ps: HashSet<&SpanTriple> = p_rels.iter().filter_map(|n| n.span.as_ref()).collect();
            span.add(Counts::of_sets(&gs, &ps));
        }

        // Entities taking part in triples, keyed (type, text) within the record.
        let entities = |rels: &[Norm<'_>]| -> HashSet<(String, String)> {
            rels.iter()
                .flat_map(|n| {
                    [
                        (n.s_label.clone(), n.triple.0.clone()),
                        (n.o_label.clone(), n.triple.2.clone()),
                    ]
                })
                .collect()
        };
        let (ge, pe) = (entities(&g_rels), entities(&p_rels));
        split_by_key(&ge, &pe, |e| e.0.as_str(), &mut per_entity);

        // Overlap classes: units of the gold text, classed by their gold triples.
        let units = unit.spans(&g.text);
        let n_units = units.len().max(1);
        let same_text = p.is_none_or(|p| p.text == g.text);
        if !same_text {
            text_differs.push(&g.id);
        }
        let mut g_units: Vec<HashSet<&TextTriple>> = vec![HashSet::new(); n_units];
        for n in &g_rels {
            let u = unit_of(&g.text, &units, g, &checked(g, n.rel)).min(n_units - 1);
            g_units[u].insert(&n.triple);
        }
        let mut p_units: Vec<HashSet<&TextTriple>> = vec![HashSet::new(); n_units];
        if let Some(p) = p {
            for n in &p_rels {
                // Offsets into a different text say nothing about the gold units: place the
                // relation by its strings instead.
                let rel = if same_text {
                    checked(p, n.rel)
                } else {
                    Cow::Owned(ungrounded(n.rel))
                };
                let u =
                    unit_of(&g.text, &units, if same_text { p } else { g }, &rel).min(n_units - 1);
                p_units[u].insert(&n.triple);
            }
        }
        for (gu, pu) in g_units.iter().zip(&p_units) {
            let keys: Vec<(&str, &str, &str)> = gu
                .iter()
                .map(|t| (t.0.as_str(), t.1.as_str(), t.2.as_str()))
                .collect();
            let class = classify(&keys);
            unit_counts.add(class);
            let c = Counts::of_sets(gu, pu);
            for (is, acc) in [
                (class.normal, &mut normal),
                (class.seo, &mut seo),
                (class.epo, &mut epo),
            ] {
                if is {
                    acc.add(c);
                }
            }
        }
    }

    let mut notes = Vec::new();
    if !with_spans {
        let sides: Vec<&str> = [("gold", gold), ("prediction", pred)]
            .into_iter()
            .filter(|(_, c)| !c.format.has_offsets())
            .map(|(s, _)| s)
            .collect();
        notes.push(format!(
            "span-exact scores skipped: the {} file{} (spo) carr{} no offsets of its own",
            sides.join(" and "),
            if sides.len() > 1 { "s" } else { "" },
            if sides.len() > 1 { "y" } else { "ies" },
        ));
    }
    if missing > 0 {
        notes.push(format!(
            "{missing} of {} gold records have no prediction record: scored as empty predictions",
            gold.records.len()
        ));
    }
    if !text_differs.is_empty() {
        notes.push(format!(
            "{} prediction records have a text different from gold (e.g. {}): their relations are placed in \
             overlap units by string search{}",
            text_differs.len(),
            examples(text_differs.iter().copied()),
            if with_spans { ", and their span-exact triples point into another text" } else { "" },
        ));
    }
    let target_side = if gold.schema.is_some() {
        "gold"
    } else {
        "prediction"
    };
    for (side, names) in [("gold", &gold_names), ("prediction", &pred_names)] {
        notes.extend(names.notes(side, target_side));
    }
    if gold_triples == 0 {
        notes.push("the gold file has no triples: recall and F1 are 0 by convention".into());
    }

    let prf_map = |m: BTreeMap<String, Counts>| m.into_iter().map(|(k, c)| (k, c.prf())).collect();
    let headline = overall.prf();
    Ok(EvalReport {
        precision: headline.precision,
        recall: headline.recall,
        f1: headline.f1,
        tp: headline.tp,
        fp: headline.fp,
        fn_: headline.fn_,
        records: gold.records.len(),
        predicted_records: pred.records.len(),
        gold_triples,
        predicted_triples,
        span_exact: with_spans.then(|| span.prf()),
        per_relation: prf_map(per_relation),
        per_overlap: PerOverlap {
            unit,
            units: unit_counts,
            normal: normal.prf(),
            seo: seo.prf(),
            epo: epo.prf(),
        },
        per_entity_type: prf_map(per_entity),
        notes,
    })
}

/// Records by id; two records with one id make matching ambiguous, hence an error.
fn index_by_id<'c>(
    corpus: &'c Corpus,
    side: &'static str,
) -> Result<HashMap<&'c str, &'c Record>, EvalError> {
    let mut by_id = HashMap::with_capacity(corpus.records.len());
    let mut repeated: BTreeSet<&str> = BTreeSet::new();
    for r in &corpus.records {
        if by_id.insert(r.id.as_str(), r).is_some() {
            repeated.insert(&r.id);
        }
    }
    if repeated.is_empty() {
        Ok(by_id)
    } else {
        Err(EvalError::DuplicateIds {
            side,
            count: repeated.len(),
            examples: repeated
                .iter()
                .take(MAX_EXAMPLES)
                .map(|s| s.to_string())
                .collect(),
        })
    }
}

/// Add one record's gold/pred sets to per-key counts (relation code, entity type).
fn split_by_key<T: Eq + Hash>(
    gold: &HashSet<T>,
    pred: &HashSet<T>,
    key: impl Fn(&T) -> &str,
    out: &mut BTreeMap<String, Counts>,
) {
    let mut bump = |t: &T, f: fn(&mut Counts)| f(out.entry(key(t).to_owned()).or_default());
    for t in gold {
        if pred.contains(t) {
            bump(t, |c| c.tp += 1);
        } else {
            bump(t, |c| c.fn_ += 1);
        }
    }
    for t in pred.iter().filter(|t| !gold.contains(*t)) {
        bump(t, |c| c.fp += 1);
    }
}

/// One relation in the names scoring compares.
struct Norm<'r> {
    rel: &'r Relation,
    triple: TextTriple,
    s_label: String,
    o_label: String,
    /// Present when both ends are grounded in the record's entities.
    span: Option<SpanTriple>,
}

fn normalize<'r>(record: &'r Record, names: &mut Renamer<'_>) -> Vec<Norm<'r>> {
    record
        .relations
        .iter()
        .map(|rel| {
            let code = names.code(&rel.code);
            let span = match (
                grounded(record, &rel.subject),
                grounded(record, &rel.object),
            ) {
                (Some(s), Some(o)) => Some((s.0, s.1, code.clone(), o.0, o.1)),
                _ => None,
            };
            Norm {
                rel,
                triple: (rel.subject.text.clone(), code, rel.object.text.clone()),
                s_label: names.label(&rel.subject.label),
                o_label: names.label(&rel.object.label),
                span,
            }
        })
        .collect()
}

/// The span of a relation end; `None` for an ungrounded end or an entity index the record does
/// not have (a corpus built in code, not by the readers), so that such data cannot panic here.
fn grounded(record: &Record, arg: &Arg) -> Option<(usize, usize)> {
    arg.entity
        .and_then(|i| record.entities.get(i))
        .map(|e| (e.start, e.end))
}

/// `rel` as `unit_of` may safely read it against `record`: entity indices out of range dropped.
fn checked<'r>(record: &Record, rel: &'r Relation) -> Cow<'r, Relation> {
    let bad = |a: &Arg| a.entity.is_some_and(|i| i >= record.entities.len());
    if bad(&rel.subject) || bad(&rel.object) {
        Cow::Owned(ungrounded(rel))
    } else {
        Cow::Borrowed(rel)
    }
}

fn ungrounded(rel: &Relation) -> Relation {
    let mut r = rel.clone();
    r.subject.entity = None;
    r.object.entity = None;
    r
}

/// Maps one side's relation codes and entity labels onto the target schema's codes (by code,
/// else by Chinese name, else via the side's own schema's Chinese name); names it cannot map
/// are kept as given and listed.
struct Renamer<'a> {
    target: Option<&'a Schema>,
    own: Option<&'a Schema>,
    codes: HashMap<String, String>,
    labels: HashMap<String, String>,
    /// (kind, from, to) for every name that changed.
    renamed: BTreeSet<(&'static str, String, String)>,
    /// (kind, name) for every name the target schema does not know.
    unknown: BTreeSet<(&'static str, String)>,
}

impl<'a> Renamer<'a> {
    fn new(target: Option<&'a Schema>, own: Option<&'a Schema>) -> Renamer<'a> {
        Renamer {
            target,
            own,
            codes: HashMap::new(),
            labels: HashMap::new(),
            renamed: BTreeSet::new(),
            unknown: BTreeSet::new(),
        }
    }

    fn code(&mut self, name: &str) -> String {
        if let Some(c) = self.codes.get(name) {
            return c.clone();
        }
        let mapped = self.target.map(|t| {
            t.relation_code(name).map(str::to_owned).or_else(|| {
                let zh = self.own?.relation_rows(name).next()?.zh.as_str();
                t.relation_code(zh).map(str::to_owned)
            })
        });
        let out = self.settle("relation", name, mapped);
        self.codes.insert(name.to_owned(), out.clone());
        out
    }

    fn label(&mut self, name: &str) -> String {
        if let Some(c) = self.labels.get(name) {
            return c.clone();
        }
        let mapped = self.target.map(|t| {
            t.entity(name).map(|e| e.code.clone()).or_else(|| {
                let zh = self.own?.entity(name)?.zh.as_str();
                t.entity(zh).map(|e| e.code.clone())
            })
        });
        let out = self.settle("entity type", name, mapped);
        self.labels.insert(name.to_owned(), out.clone());
        out
    }

    /// `mapped`: `None` without a target schema, `Some(None)` when the target lacks the name.
    fn settle(&mut self, kind: &'static str, name: &str, mapped: Option<Option<String>>) -> String {
        match mapped {
            None => name.to_owned(),
            Some(None) => {
                self.unknown.insert((kind, name.to_owned()));
                name.to_owned()
            }
            Some(Some(code)) => {
                if code != name {
                    self.renamed.insert((kind, name.to_owned(), code.clone()));
                }
                code
            }
        }
    }

    fn notes(&self, side: &str, target_side: &str) -> Vec<String> {
        let mut out = Vec::new();
        if !self.renamed.is_empty() {
            let list: Vec<String> = self
                .renamed
                .iter()
                .map(|(_, from, to)| format!("{from} → {to}"))
                .collect();
            out.push(format!(
                "{side} relation and entity type names mapped onto the {target_side} schema's codes: {}",
                examples(list.iter().map(String::as_str))
            ));
        }
        if !self.unknown.is_empty() {
            let list: Vec<String> = self
                .unknown
                .iter()
                .map(|(kind, name)| format!("{kind} `{name}`"))
                .collect();
            out.push(format!(
                "{side} names not in the {target_side} schema, compared as given: {}",
                examples(list.iter().map(String::as_str))
            ));
        }
        out
    }
}

/// A short comma-separated list, "…" when cut.
fn examples<'s>(items: impl ExactSizeIterator<Item = &'s str>) -> String {
    const SHOWN: usize = 10;
    let n = items.len();
    let mut s: Vec<&str> = items.take(SHOWN).collect();
    if n > SHOWN {
        s.push("…");
    }
    s.join(", ")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::corpus::read_corpus_str;

    fn corpus(jsonl: &str) -> Corpus {
        let c = read_corpus_str(jsonl, None, None).expect("test corpus reads");
        assert_eq!(c.rejected(), 0, "{:?}", c.problems);
        c
    }

    fn eval(gold: &Corpus, pred: &Corpus) -> EvalReport {
        evaluate(gold, pred, &EvalOptions::default()).expect("evaluates")
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    /// A doccano line; entities `(label, start, end)` get ids 1.., relations are
    /// `(from index, to index, type)` over that list.
    pub(crate) fn doccano(
        id: usize,
        text: &str,
        entities: &[(&str, usize, usize)],
        relations: &[(usize, usize, &str)],
    ) -> String {
        let ents: Vec<serde_json::Value> = entities
            .iter()
            .enumerate()
            .map(|(i, (label, s, e))| serde_json::json!({"id": i + 1, "label": label, "start_offset": s, "end_offset": e}))
            .collect();
        let rels: Vec<serde_json::Value> = relations
            .iter()
            .enumerate()
            .map(|(i, (f, t, ty))| serde_json::json!({"id": 100 + i, "from_id": f + 1, "to_id": t + 1, "type": ty}))
            .collect();
        serde_json::json!({"id": id, "text": text, "entities": ents, "relations": rels}).to_string()
    }

    /// An spo line (CMeIE style); items are `(subject, subject type, predicate, object, object type)`.
    fn spo(id: usize, text: &str, items: &[(&str, &str, &str, &str, &str)]) -> String {
        let list: Vec<serde_json::Value> = items
            .iter()
            .map(|(s, st, p, o, ot)| {
                serde_json::json!({"predicate": p, "subject": s, "subject_type": st,
                                   "object": {"@value": o}, "object_type": {"@value": ot}})
            })
            .collect();
        serde_json::json!({"id": id, "text": text, "spo_list": list}).to_string()
    }

    /// The hand-checked example: sentence 0 is Normal (one BpSy), sentence 1 is SEO (支架 is the
    /// object of TmMc and the subject of McBp).
    pub(crate) const TEXT: &str = "前降支近段狭窄80%。行支架植入术，支架置于右冠中段。";
    pub(crate) const ENTS: &[(&str, usize, usize)] = &[
        ("身体部位", 0, 5),   // 前降支近段
        ("症状体征", 5, 10),  // 狭窄80%
        ("治疗方式", 12, 17), // 支架植入术
        ("医疗耗材", 18, 20), // 支架
        ("身体部位", 22, 26), // 右冠中段
        ("身体部位", 22, 24), // 右冠 (only predictions use it)
    ];
    pub(crate) const GOLD_RELS: &[(usize, usize, &str)] = &[
        (0, 1, "身体部位_症状体征"),
        (2, 3, "治疗方式_医疗耗材"),
        (3, 4, "医疗耗材_身体部位"),
    ];
    /// One error, in the SEO sentence: the McBp object is 右冠 instead of 右冠中段.
    pub(crate) const PRED_RELS: &[(usize, usize, &str)] = &[
        (0, 1, "身体部位_症状体征"),
        (2, 3, "治疗方式_医疗耗材"),
        (3, 5, "医疗耗材_身体部位"),
    ];

    /// The hand-checked example as (gold, prediction) corpora.
    pub(crate) fn hand_example() -> (Corpus, Corpus) {
        (
            corpus(&doccano(1, TEXT, &ENTS[..5], GOLD_RELS)),
            corpus(&doccano(1, TEXT, ENTS, PRED_RELS)),
        )
    }

    /// Ten records of ten distinct BpSy triples each, one per sentence; `keep(record, i)`
    /// decides which relations are written.
    fn ten_by_ten(keep: impl Fn(usize, usize) -> bool) -> String {
        let mut lines = Vec::new();
        for rec in 0..10 {
            let mut text = String::new();
            let mut ents = Vec::new();
            let mut rels = Vec::new();
            for i in 0..10 {
                let at = text.chars().count();
                text.push_str(&format!("血管{i}狭窄{rec}。"));
                ents.push(("身体部位", at, at + 3));
                ents.push(("症状体征", at + 3, at + 6));
                if keep(rec, i) {
                    rels.push((2 * i, 2 * i + 1, "身体部位_症状体征"));
                }
            }
            lines.push(doccano(rec + 1, &text, &ents, &rels));
        }
        lines.join("\n")
    }

    #[test]
    fn prf_zero_conventions() {
        assert_eq!(Prf::from_counts(0, 0, 0), Prf::default());
        let empty = Prf::from_counts(0, 0, 5);
        assert_eq!((empty.precision, empty.recall, empty.f1), (0.0, 0.0, 0.0));
        let nothing_right = Prf::from_counts(0, 3, 0);
        assert_eq!(
            (
                nothing_right.precision,
                nothing_right.recall,
                nothing_right.f1
            ),
            (0.0, 0.0, 0.0)
        );
        let p = Prf::from_counts(3, 1, 2);
        assert!(
            close(p.precision, 0.75)
                && close(p.recall, 0.6)
                && close(p.f1, 2.0 * 0.75 * 0.6 / 1.35)
        );
        assert_eq!((p.gold(), p.predicted()), (5, 4));
    }

    #[test]
    fn gold_against_itself_is_perfect() {
        let (gold, _) = hand_example();
        let r = eval(&gold, &gold);
        assert_eq!((r.precision, r.recall, r.f1), (1.0, 1.0, 1.0));
        assert_eq!(
            (r.tp, r.fp, r.fn_, r.gold_triples, r.predicted_triples),
            (3, 0, 0, 3, 3)
        );
        assert_eq!(r.span_exact.map(|s| s.f1), Some(1.0));
        assert!(r
            .per_relation
            .values()
            .chain(r.per_entity_type.values())
            .all(|p| p.f1 == 1.0));
        assert_eq!((r.per_overlap.normal.f1, r.per_overlap.seo.f1), (1.0, 1.0));
        assert!(r.notes.is_empty(), "{:?}", r.notes);
    }

    #[test]
    fn empty_prediction_scores_zero() {
        let gold = corpus(&ten_by_ten(|_, _| true));
        let pred = corpus(&ten_by_ten(|_, _| false));
        let r = eval(&gold, &pred);
        assert_eq!((r.precision, r.recall, r.f1), (0.0, 0.0, 0.0));
        assert_eq!((r.tp, r.fp, r.fn_), (0, 0, 100));
        assert_eq!(r.per_overlap.normal, Prf::from_counts(0, 0, 100));
    }

    #[test]
    fn missing_prediction_records_are_empty_predictions() {
        let gold = corpus(&ten_by_ten(|_, _| true));
        let pred = corpus(
            &ten_by_ten(|_, _| true)
                .lines()
                .take(3)
                .collect::<Vec<_>>()
                .join("\n"),
        );
        let r = eval(&gold, &pred);
        assert_eq!(
            (r.tp, r.fp, r.fn_, r.records, r.predicted_records),
            (30, 0, 70, 10, 3)
        );
        assert!(close(r.precision, 1.0) && close(r.recall, 0.3));
        assert!(
            r.notes
                .iter()
                .any(|n| n.starts_with("7 of 10 gold records have no prediction record")),
            "{:?}",
            r.notes
        );
    }

    #[test]
    fn duplicate_triples_count_once() {
        // 狭窄 twice after 前降支: two relations, one text triple, on both sides.
        let text = "前降支狭窄，前降支狭窄。";
        let ents = [
            ("身体部位", 0, 3),
            ("症状体征", 3, 5),
            ("身体部位", 6, 9),
            ("症状体征", 9, 11),
        ];
        let twice = [(0, 1, "身体部位_症状体征"), (2, 3, "身体部位_症状体征")];
        let gold = corpus(&doccano(1, text, &ents, &twice));
        let once = corpus(&doccano(1, text, &ents, &twice[..1]));
        let r = eval(&gold, &gold);
        assert_eq!((r.tp, r.fp, r.fn_, r.gold_triples), (1, 0, 0, 1));
        // Spans still tell the two mentions apart.
        assert_eq!(r.span_exact.map(|s| s.tp), Some(2));
        let r = eval(&once, &gold);
        assert_eq!((r.tp, r.fp, r.fn_, r.predicted_triples), (1, 0, 0, 1));
        // The same relation annotated twice (same ids) is one triple too.
        let repeated = corpus(&doccano(1, text, &ents, &[twice[0], twice[0]]));
        let r = eval(&once, &repeated);
        assert_eq!((r.tp, r.fp, r.fn_), (1, 0, 0));
        assert_eq!(r.span_exact, Some(Prf::from_counts(1, 0, 0)));
    }

    #[test]
    fn unknown_prediction_id_is_an_error() {
        let (gold, _) = hand_example();
        let pred = corpus(
            &[
                doccano(1, TEXT, ENTS, PRED_RELS),
                doccano(99, TEXT, ENTS, PRED_RELS),
            ]
            .join("\n"),
        );
        let err = evaluate(&gold, &pred, &EvalOptions::default()).unwrap_err();
        assert_eq!(
            err,
            EvalError::UnknownIds {
                count: 1,
                examples: vec!["99".into()]
            }
        );
        assert!(err.to_string().contains("not in the gold file (e.g. 99)"));
    }

    #[test]
    fn duplicate_ids_are_an_error() {
        let (mut gold, _) = hand_example();
        let twin = gold.records[0].clone();
        gold.records.push(twin);
        let err = evaluate(&gold, &gold, &EvalOptions::default()).unwrap_err();
        assert_eq!(
            err,
            EvalError::DuplicateIds {
                side: "gold",
                count: 1,
                examples: vec!["1".into()]
            }
        );
    }

    #[test]
    fn dropping_a_tenth_of_the_triples() {
        let gold = corpus(&ten_by_ten(|_, _| true));
        let pred = corpus(&ten_by_ten(|rec, i| i != rec));
        let r = eval(&gold, &pred);
        assert_eq!(
            (r.tp, r.fp, r.fn_, r.gold_triples, r.predicted_triples),
            (90, 0, 10, 100, 90)
        );
        assert!(close(r.precision, 1.0) && close(r.recall, 0.9));
        assert!(close(r.f1, 2.0 * 0.9 / 1.9));
        assert_eq!(r.span_exact, Some(Prf::from_counts(90, 0, 10)));
        assert_eq!(r.per_relation.keys().collect::<Vec<_>>(), ["BpSy"]);
        // One triple per sentence: every unit is Normal.
        assert_eq!(
            (r.per_overlap.units.normal, r.per_overlap.units.seo),
            (100, 0)
        );
        assert_eq!(r.per_overlap.normal, r.overall());
    }

    #[test]
    fn wrong_relation_code_is_a_false_positive_and_a_false_negative() {
        let gold = corpus(&doccano(
            1,
            TEXT,
            &ENTS[..2],
            &[(0, 1, "身体部位_症状体征")],
        ));
        // Same pair, another relation type (the reader keeps it, flagging the labels).
        let pred = corpus(&doccano(
            1,
            TEXT,
            &ENTS[..2],
            &[(0, 1, "身体部位_检查检验")],
        ));
        let r = eval(&gold, &pred);
        assert_eq!((r.tp, r.fp, r.fn_), (0, 1, 1));
        assert_eq!(r.per_relation["BpSy"], Prf::from_counts(0, 0, 1));
        assert_eq!(r.per_relation["BpIn"], Prf::from_counts(0, 1, 0));
        // The entities themselves were found.
        assert_eq!(r.per_entity_type["Bp"], Prf::from_counts(1, 0, 0));
    }

    #[test]
    fn hand_checked_breakdowns() {
        let (gold, pred) = hand_example();
        let r = eval(&gold, &pred);
        assert_eq!((r.tp, r.fp, r.fn_), (2, 1, 1));
        assert!(
            close(r.precision, 2.0 / 3.0) && close(r.recall, 2.0 / 3.0) && close(r.f1, 2.0 / 3.0)
        );
        assert_eq!(r.span_exact, Some(Prf::from_counts(2, 1, 1)));

        assert_eq!(
            r.per_relation.keys().collect::<Vec<_>>(),
            ["BpSy", "McBp", "TmMc"]
        );
        assert_eq!(r.per_relation["BpSy"], Prf::from_counts(1, 0, 0));
        assert_eq!(r.per_relation["TmMc"], Prf::from_counts(1, 0, 0));
        assert_eq!(r.per_relation["McBp"], Prf::from_counts(0, 1, 1));

        let o = &r.per_overlap;
        assert_eq!(o.unit, Unit::Sentence);
        assert_eq!(
            o.units,
            OverlapCounts {
                normal: 1,
                seo: 1,
                epo: 0,
                none: 0
            }
        );
        assert_eq!(o.normal, Prf::from_counts(1, 0, 0));
        assert_eq!(o.seo, Prf::from_counts(1, 1, 1));
        assert!(close(o.seo.precision, 0.5) && close(o.seo.recall, 0.5) && close(o.seo.f1, 0.5));
        assert_eq!(o.epo, Prf::default());

        assert_eq!(
            r.per_entity_type.keys().collect::<Vec<_>>(),
            ["Bp", "Mc", "Sy", "Tm"]
        );
        assert_eq!(r.per_entity_type["Bp"], Prf::from_counts(1, 1, 1));
        for t in ["Mc", "Sy", "Tm"] {
            assert_eq!(r.per_entity_type[t], Prf::from_counts(1, 0, 0), "{t}");
        }

        // The whole record as one unit: SEO (支架), holding all three triples.
        let r = evaluate(
            &gold,
            &pred,
            &EvalOptions {
                unit: Some(Unit::Record),
            },
        )
        .unwrap();
        assert_eq!(
            r.per_overlap.units,
            OverlapCounts {
                normal: 0,
                seo: 1,
                epo: 0,
                none: 0
            }
        );
        assert_eq!(r.per_overlap.seo, Prf::from_counts(2, 1, 1));
    }

    #[test]
    fn a_unit_both_seo_and_epo_counts_in_both() {
        let text = "甲乙丙。丁戊。";
        let gold = corpus(
            &[
                spo(
                    1,
                    text,
                    &[
                        ("甲", "A", "p", "乙", "B"),
                        ("甲", "A", "q", "乙", "B"),
                        ("甲", "A", "p", "丙", "B"),
                    ],
                ),
                spo(2, text, &[("丁", "A", "p", "戊", "B")]),
            ]
            .join("\n"),
        );
        let pred = corpus(
            &[
                spo(
                    1,
                    text,
                    &[("甲", "A", "p", "乙", "B"), ("甲", "A", "p", "丙", "B")],
                ),
                spo(2, text, &[]),
            ]
            .join("\n"),
        );
        let r = eval(&gold, &pred);
        let o = &r.per_overlap;
        assert_eq!(o.unit, Unit::Record);
        assert_eq!(
            o.units,
            OverlapCounts {
                normal: 1,
                seo: 1,
                epo: 1,
                none: 0
            }
        );
        assert_eq!(o.seo, Prf::from_counts(2, 0, 1));
        assert_eq!(o.epo, Prf::from_counts(2, 0, 1));
        assert_eq!(o.normal, Prf::from_counts(0, 0, 1));
        assert_eq!(r.per_relation["q"], Prf::from_counts(0, 0, 1));
        assert_eq!(r.per_entity_type["A"], Prf::from_counts(1, 0, 1));
        assert_eq!(r.span_exact, None);
    }

    #[test]
    fn predictions_in_units_without_gold_belong_to_no_class() {
        // A third sentence without gold triples, where the prediction has a spurious BpSy:
        // a false positive overall, but in no overlap class.
        let text = format!("{TEXT}右冠通畅。");
        let gold_ext = corpus(&doccano(1, &text, &ENTS[..5], GOLD_RELS));
        let mut ents = ENTS[..5].to_vec();
        ents.extend([("身体部位", 27, 29), ("症状体征", 29, 31)]);
        let mut rels = GOLD_RELS.to_vec();
        rels.push((5, 6, "身体部位_症状体征"));
        let pred = corpus(&doccano(1, &text, &ents, &rels));
        let r = eval(&gold_ext, &pred);
        assert_eq!((r.tp, r.fp, r.fn_), (3, 1, 0));
        assert_eq!(
            r.per_overlap.units,
            OverlapCounts {
                normal: 1,
                seo: 1,
                epo: 0,
                none: 1
            }
        );
        assert_eq!((r.per_overlap.normal.fp, r.per_overlap.seo.fp), (0, 0));
    }

    #[test]
    fn spo_gold_and_doccano_prediction_compare_by_text() {
        let spo_gold = corpus(&spo(
            1,
            TEXT,
            &[
                (
                    "前降支近段",
                    "身体部位",
                    "身体部位_症状体征",
                    "狭窄80%",
                    "症状体征",
                ),
                (
                    "支架植入术",
                    "治疗方式",
                    "治疗方式_医疗耗材",
                    "支架",
                    "医疗耗材",
                ),
                (
                    "支架",
                    "医疗耗材",
                    "医疗耗材_身体部位",
                    "右冠中段",
                    "身体部位",
                ),
            ],
        ));
        assert!(spo_gold.schema.is_none());
        let (doccano_gold, doccano_pred) = hand_example();

        let r = eval(&spo_gold, &doccano_gold);
        assert_eq!((r.precision, r.recall, r.f1), (1.0, 1.0, 1.0));
        assert_eq!(r.span_exact, None);
        assert_eq!(r.per_overlap.unit, Unit::Record);
        assert_eq!(
            r.per_relation.keys().collect::<Vec<_>>(),
            ["BpSy", "McBp", "TmMc"]
        );
        assert!(
            r.notes
                .iter()
                .any(|n| n.contains("span-exact scores skipped: the gold file (spo)")),
            "{:?}",
            r.notes
        );
        assert!(
            r.notes
                .iter()
                .any(|n| n.contains("身体部位_症状体征 → BpSy")),
            "{:?}",
            r.notes
        );

        let r = eval(&spo_gold, &doccano_pred);
        assert_eq!((r.tp, r.fp, r.fn_), (2, 1, 1));
        assert_eq!(r.per_entity_type["Bp"], Prf::from_counts(1, 1, 1));

        // And the other way round: doccano gold, spo predictions.
        let r = eval(&doccano_gold, &spo_gold);
        assert_eq!((r.precision, r.recall, r.f1), (1.0, 1.0, 1.0));
        assert_eq!(r.span_exact, None);
        assert_eq!(r.per_overlap.unit, Unit::Sentence);
        assert_eq!(r.per_overlap.normal, Prf::from_counts(1, 0, 0));
        assert_eq!(r.per_overlap.seo, Prf::from_counts(2, 0, 0));
        assert!(
            r.notes
                .iter()
                .any(|n| n.contains("the prediction file (spo)")),
            "{:?}",
            r.notes
        );
    }

    #[test]
    fn prediction_text_that_differs_is_placed_by_string() {
        let (gold, _) = hand_example();
        // The predictor saw a leading space: its offsets are one char off.
        let shifted: Vec<(&str, usize, usize)> =
            ENTS.iter().map(|&(l, s, e)| (l, s + 1, e + 1)).collect();
        let pred = corpus(&doccano(1, &format!(" {TEXT}"), &shifted, GOLD_RELS));
        let r = eval(&gold, &pred);
        assert_eq!((r.precision, r.recall), (1.0, 1.0));
        assert_eq!(r.span_exact, Some(Prf::from_counts(0, 3, 3)));
        assert_eq!((r.per_overlap.normal.tp, r.per_overlap.seo.tp), (1, 2));
        assert!(
            r.notes
                .iter()
                .any(|n| n.starts_with("1 prediction records have a text different from gold")),
            "{:?}",
            r.notes
        );
    }

    #[test]
    fn json_has_the_top_level_keys() {
        let (gold, pred) = hand_example();
        let v = serde_json::to_value(eval(&gold, &pred)).unwrap();
        for key in [
            "precision",
            "recall",
            "f1",
            "tp",
            "fp",
            "fn",
            "records",
            "predicted_records",
            "gold_triples",
            "predicted_triples",
            "span_exact",
            "per_relation",
            "per_overlap",
            "per_entity_type",
            "notes",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(v["per_relation"]["McBp"]["fn"], 1);
        assert_eq!(v["per_overlap"]["unit"], "sentence");
        assert_eq!(v["per_overlap"]["seo"]["precision"], 0.5);
    }
}

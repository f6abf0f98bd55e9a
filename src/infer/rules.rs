//! Decoding rules learned from the training data (issue 13 §3), each behind a `[decode]`
//! switch so that the cross-validation measures it on the same folds (`cbrrel cv
//! --models-from`).
//!
//! CasRel's decoder (decode.rs) pairs every start with the nearest end after it, however far,
//! and keeps every object the tagger finds anywhere in the segment. The cross-validation's
//! error analysis (BENCHMARKS.md) found two costly consequences: spans that run across clause
//! punctuation (a start closed by an end in a later clause) and subjects paired with objects in
//! another clause. Both are things the training data says (almost) never happen, so what it
//! says is measured at training time and saved with the model (`config.json`, `span_stats`):
//! - `span_rule = "bounded"`: a span is no longer (in chars) than the longest gold entity, and
//!   contains no clause mark that gold entities do not contain: a start whose nearest end lies
//!   beyond the bound opens no span.
//! - `pair_scope = "learned"`: a relation whose gold pairs sit within one clause (at least the
//!   share `scope_coverage` of them) pairs a subject only with objects of its clause; one whose
//!   pairs sit within one sentence, only with objects of its sentence; the others anywhere in
//!   the segment. The coverage trades the recall of the rare far pairs for the precision of the
//!   many near ones; it is a decoding setting, so the folds measure each value.
//! - `pair_scope = "tuned"`: each relation's scope is the one (clause, sentence or segment)
//!   that scores best on the dev set after training (tune.rs), so no coverage share is chosen
//!   by hand; relations with few dev triples keep the learned one.
//! - `pair_block = "learned"`: a relation whose gold pairs (at least the share
//!   `order_coverage` of them) never have another entity of the subject's type between the
//!   two ends pairs a subject only with objects it reaches without passing one. In a report
//!   that lists vessels with commas instead of semicolons (前降支…病变，狭窄程度60%，回旋支…病变),
//!   the sentence scope lets every vessel take every finding of the list; no gold BpSy, InSy,
//!   InMc, TmDo or BpIn pair in the coronary corpus passes another entity of its subject's
//!   type, McBp's pass one 9 % of the time (送A导丝、B导丝至前降支: A's target lies past B).
//!   `pair_block = "tuned"` lets the dev set decide per relation, as for the scopes.
//! - `pair_direction = "learned"`: a relation whose gold objects (at least the share
//!   `order_coverage` of them) all follow their subject in the text — or all precede it —
//!   pairs only that way. BpSy's findings follow the vessel (all but 0.1 % of the corpus's
//!   pairs), a dilation's balloon precedes it (99.7 %): a finding that closes the previous
//!   vessel's clause is not the next vessel's. `"tuned"` as for blocking.
//!
//! The bounded rule and tuned scopes are on in the shipped `pipeline/train.toml` (with tuned
//! thresholds): on the five coronary folds they raise F1 from 93.66 to 95.66 (BENCHMARKS.md),
//! the same as learned scopes at the best coverage (0.85), whatever coverage is set. Both
//! rules of order are on too (`"tuned"`): on the five folds of the 10-epoch recipe F1 96.09 →
//! 96.68, ahead on every fold. A run directory whose config.json predates a rule decodes
//! without it (`"nearest"`, `"segment"`, `"off"`: the serde defaults).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::corpus::sentences::{sentence_of, sentence_spans, separated, CLAUSE_MARKS};
use crate::corpus::Record;
use crate::text::SegmentExample;

/// Fewer gold pairs than this say too little: the relation keeps the whole segment.
pub const MIN_PAIRS: usize = 20;
/// A clause mark inside at least this share of the gold entities may sit inside a decoded
/// span. Below it the entities holding one are annotation slips (on the coronary folds two
/// entities in ten thousand hold a full-width comma), not a pattern to decode.
pub const MIN_INSIDE_SHARE: f64 = 0.001;

/// How a start is closed by an end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpanRule {
    /// The nearest end at or after the start (CasRel).
    #[default]
    Nearest,
    /// The nearest end within the longest gold entity, not across a clause mark.
    Bounded,
}

/// Where a subject's objects may sit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PairScope {
    /// Anywhere in the segment (CasRel).
    #[default]
    Segment,
    /// Per relation, the narrowest scope the training pairs keep to ([`Scope`]).
    Learned,
    /// Per relation, the scope that scores best on the dev set (tune.rs), saved in the run
    /// directory (`pair_scopes`); `learned` before tuning and for relations with too few dev
    /// triples to choose by. No coverage share to pick: dev measures the trade the share
    /// guesses at.
    Tuned,
}

/// How a rule on the order of a pair's two ends applies (`pair_block`, `pair_direction`; see
/// the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PairRule {
    /// Not applied (CasRel).
    #[default]
    Off,
    /// Per relation, where its training pairs (the share `order_coverage` of them) keep to it
    /// ([`PairStats::blocks`], [`PairStats::direction`]).
    Learned,
    /// Per relation, applied or not as scores best on the dev set (tune.rs), saved in the run
    /// directory (`pair_blocks`, `pair_directions`); `learned` before tuning and for
    /// relations with too few dev triples to choose by.
    Tuned,
}

/// Where a relation's objects lie from their subject in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// The object starts at or after the subject's start.
    Forward,
    /// The object starts at or before the subject's start.
    Backward,
}

impl Direction {
    /// Whether the object span `o` lies this way from the subject span `s`.
    pub fn holds(self, s: (usize, usize), o: (usize, usize)) -> bool {
        match self {
            Direction::Forward => o.0 >= s.0,
            Direction::Backward => o.0 <= s.0,
        }
    }
}

/// Text unit two ends of a relation share, narrowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Clause,
    Sentence,
    Segment,
}

impl Scope {
    /// The name `config.json` and `tuning.json` give it.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Clause => "clause",
            Scope::Sentence => "sentence",
            Scope::Segment => "segment",
        }
    }
}

/// A relation's gold pairs in the training data, by where their ends sit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairStats {
    pub pairs: usize,
    pub same_clause: usize,
    pub same_sentence: usize,
    /// Pairs with another entity of the subject's type between the two ends (`None` in
    /// statistics measured before it was counted: such a relation is never blocked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<usize>,
    /// Pairs whose object starts before the subject (`None` as for `blocked`: such a relation
    /// keeps both directions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backward: Option<usize>,
}

impl PairStats {
    /// The narrowest scope holding at least the share `coverage` of the pairs (the whole
    /// segment when they are fewer than [`MIN_PAIRS`]).
    pub fn scope(&self, coverage: f32) -> Scope {
        let covers = |n: usize| n as f64 >= f64::from(coverage) * self.pairs as f64;
        if self.pairs < MIN_PAIRS {
            Scope::Segment
        } else if covers(self.same_clause) {
            Scope::Clause
        } else if covers(self.same_sentence) {
            Scope::Sentence
        } else {
            Scope::Segment
        }
    }

    /// Whether `pair_block = "learned"` blocks this relation: at least the share `coverage`
    /// of its pairs (and at least [`MIN_PAIRS`] of them) pass no entity of the subject's type.
    pub fn blocks(&self, coverage: f32) -> bool {
        self.pairs >= MIN_PAIRS
            && self.blocked.is_some_and(|b| {
                self.pairs.saturating_sub(b) as f64 >= f64::from(coverage) * self.pairs as f64
            })
    }

    /// The one direction at least the share `coverage` of the pairs (and at least
    /// [`MIN_PAIRS`] of them) keep to, if any.
    pub fn direction(&self, coverage: f32) -> Option<Direction> {
        let backward = self.backward.filter(|_| self.pairs >= MIN_PAIRS)?;
        let covers = |n: usize| n as f64 >= f64::from(coverage) * self.pairs as f64;
        if covers(self.pairs.saturating_sub(backward)) {
            Some(Direction::Forward)
        } else if covers(backward) {
            Some(Direction::Backward)
        } else {
            None
        }
    }
}

/// Whether the char span `e` lies in the gap between the spans `s` and `o` (either order),
/// outside both. Spans that touch or overlap leave no gap.
fn in_gap(s: (usize, usize), o: (usize, usize), e: (usize, usize)) -> bool {
    let (lo, hi) = (s.1.min(o.1), s.0.max(o.0));
    e.0 < e.1 && lo <= e.0 && e.1 <= hi
}

/// Write `tuned`'s value for each relation code over that relation's slot in `slots` (one per
/// relation of `relations`, in order); relations without one keep theirs.
fn overlay<T: Copy>(slots: &mut [T], relations: &[String], tuned: &BTreeMap<String, T>) {
    for (slot, code) in slots.iter_mut().zip(relations) {
        if let Some(&v) = tuned.get(code) {
            *slot = v;
        }
    }
}

/// What the training data says about spans and pairs, saved in the run directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpanStats {
    pub entities: usize,
    /// Longest gold entity, in chars.
    pub max_entity_chars: usize,
    /// Clause marks found inside at least the share [`MIN_INSIDE_SHARE`] of the gold entities
    /// (they bound nothing).
    pub marks_inside: String,
    /// Per relation code.
    pub relations: BTreeMap<String, PairStats>,
}

impl SpanStats {
    /// Measure `records` (a training corpus).
    pub fn from_records(records: &[Record]) -> SpanStats {
        let mut inside: BTreeMap<char, usize> = BTreeMap::new();
        let (mut entities, mut max_entity_chars) = (0, 0);
        for r in records {
            for e in &r.entities {
                entities += 1;
                max_entity_chars = max_entity_chars.max(e.end.saturating_sub(e.start));
                let mut seen: Vec<char> = e
                    .text
                    .chars()
                    .filter(|c| CLAUSE_MARKS.contains(c))
                    .collect();
                seen.sort_unstable();
                seen.dedup();
                for c in seen {
                    *inside.entry(c).or_default() += 1;
                }
            }
        }
        let marks_inside: String = inside
            .into_iter()
            .filter(|&(_, n)| n as f64 >= MIN_INSIDE_SHARE * entities as f64 && n > 0)
            .map(|(c, _)| c)
            .collect();
        let is_mark = |c: char| CLAUSE_MARKS.contains(&c) && !marks_inside.contains(c);
        let mut counts: BTreeMap<String, [usize; 5]> = BTreeMap::new();
        for r in records {
            let chars: Vec<char> = r.text.chars().collect();
            let sentences = sentence_spans(&r.text);
            for rel in &r.relations {
                let entity = |a: &crate::corpus::Arg| a.entity.and_then(|i| r.entities.get(i));
                let (Some(subject), Some(object)) = (entity(&rel.subject), entity(&rel.object))
                else {
                    continue;
                };
                let (s, o) = ((subject.start, subject.end), (object.start, object.end));
                let c = counts.entry(rel.code.clone()).or_default();
                c[0] += 1;
                if r.entities
                    .iter()
                    .any(|e| e.label == subject.label && in_gap(s, o, (e.start, e.end)))
                {
                    c[3] += 1;
                }
                if o.0 < s.0 {
                    c[4] += 1;
                }
                if sentence_of(&sentences, s.0) == sentence_of(&sentences, o.0) {
                    c[2] += 1;
                    if !separated(&chars, s, o, is_mark) {
                        c[1] += 1;
                    }
                }
            }
        }
        let relations = counts
            .into_iter()
            .map(
                |(code, [pairs, same_clause, same_sentence, blocked, backward])| {
                    let stats = PairStats {
                        pairs,
                        same_clause,
                        same_sentence,
                        blocked: Some(blocked),
                        backward: Some(backward),
                    };
                    (code, stats)
                },
            )
            .collect();
        SpanStats {
            entities,
            max_entity_chars,
            marks_inside,
            relations,
        }
    }

    fn is_mark(&self, c: char) -> bool {
        CLAUSE_MARKS.contains(&c) && !self.marks_inside.contains(c)
    }
}

/// The switches and the statistics they read, resolved for one model's relations.
#[derive(Debug, Clone)]
pub struct DecodeRules {
    span_rule: SpanRule,
    max_chars: usize,
    /// Per relation index of the model: the scope objects must share with the subject.
    scopes: Vec<Scope>,
    stats: Option<SpanStats>,
    /// Per relation index: the object threshold tuned on dev (tune.rs), where there is one.
    object: Vec<Option<f32>>,
    /// Per relation index: whether a subject pairs only with objects it reaches without
    /// passing another entity of its type (`pair_block`).
    blocks: Vec<bool>,
    /// Per relation index: the direction its training pairs keep to, if one…
    directions: Vec<Option<Direction>>,
    /// …and whether pairs are held to it (`pair_direction`).
    directed: Vec<bool>,
}

/// One decoded pair as the blocking rule reads it: char spans and the subject's entity type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TypedPair<'l> {
    pub relation: usize,
    pub subject: (usize, usize),
    pub subject_type: &'l str,
    pub object: (usize, usize),
    pub object_type: &'l str,
}

/// A report's text as the rules read it.
pub struct TextLayout {
    chars: Vec<char>,
    sentences: Vec<(usize, usize)>,
}

impl TextLayout {
    pub fn new(text: &str) -> TextLayout {
        TextLayout {
            chars: text.chars().collect(),
            sentences: sentence_spans(text),
        }
    }
}

/// Why a model's rules cannot be applied.
#[derive(Debug, thiserror::Error)]
#[error("[decode] asks for learned rules (span_rule = \"bounded\", pair_scope, pair_block or pair_direction) but the model has no span_stats: it was trained before they were measured; train it again")]
pub struct MissingStats;

impl DecodeRules {
    /// CasRel's decoding: every rule off.
    pub fn off() -> DecodeRules {
        DecodeRules {
            span_rule: SpanRule::Nearest,
            max_chars: usize::MAX,
            scopes: Vec::new(),
            stats: None,
            object: Vec::new(),
            blocks: Vec::new(),
            directions: Vec::new(),
            directed: Vec::new(),
        }
    }

    pub fn new(
        span_rule: SpanRule,
        (pair_scope, coverage): (PairScope, f32),
        [pair_block, pair_direction]: [PairRule; 2],
        order_coverage: f32,
        stats: Option<&SpanStats>,
        relations: &[String],
    ) -> Result<DecodeRules, MissingStats> {
        if span_rule == SpanRule::Nearest
            && pair_scope == PairScope::Segment
            && pair_block == PairRule::Off
            && pair_direction == PairRule::Off
        {
            return Ok(DecodeRules::off());
        }
        let stats = stats.ok_or(MissingStats)?;
        let scopes = relations
            .iter()
            .map(|code| match pair_scope {
                PairScope::Segment => Scope::Segment,
                PairScope::Learned | PairScope::Tuned => stats
                    .relations
                    .get(code)
                    .map_or(Scope::Segment, |p| p.scope(coverage)),
            })
            .collect();
        let blocks = relations
            .iter()
            .map(|code| {
                pair_block != PairRule::Off
                    && stats
                        .relations
                        .get(code)
                        .is_some_and(|p| p.blocks(order_coverage))
            })
            .collect();
        let directions: Vec<Option<Direction>> = relations
            .iter()
            .map(|code| {
                stats
                    .relations
                    .get(code)
                    .and_then(|p| p.direction(order_coverage))
            })
            .collect();
        let directed = directions
            .iter()
            .map(|d| pair_direction != PairRule::Off && d.is_some())
            .collect();
        Ok(DecodeRules {
            span_rule,
            max_chars: if span_rule == SpanRule::Bounded {
                stats.max_entity_chars.max(1)
            } else {
                usize::MAX
            },
            scopes,
            stats: Some(stats.clone()),
            object: Vec::new(),
            blocks,
            directions,
            directed,
        })
    }

    /// Scopes per relation code (tuned on dev) over the ones `new` resolved, for the model's
    /// `relations`. Rules without statistics pair anywhere and stay so.
    pub fn with_pair_scopes(
        mut self,
        relations: &[String],
        tuned: &BTreeMap<String, Scope>,
    ) -> DecodeRules {
        if self.stats.is_some() {
            overlay(&mut self.scopes, relations, tuned);
        }
        self
    }

    /// The same rules with every relation held to `scope` (one point of the dev grid).
    pub fn with_scope_everywhere(mut self, scope: Scope) -> DecodeRules {
        if self.stats.is_some() {
            self.scopes.iter_mut().for_each(|s| *s = scope);
        }
        self
    }

    /// Blocking per relation code (tuned on dev) over what `new` resolved, for the model's
    /// `relations`. Rules without statistics block nothing and stay so.
    pub fn with_pair_blocks(
        mut self,
        relations: &[String],
        tuned: &BTreeMap<String, bool>,
    ) -> Self {
        if self.stats.is_some() {
            overlay(&mut self.blocks, relations, tuned);
        }
        self
    }

    /// The same rules with blocking on (or off) for every relation (one point of the dev grid).
    pub fn with_block_everywhere(mut self, on: bool) -> DecodeRules {
        if self.stats.is_some() {
            self.blocks.iter_mut().for_each(|b| *b = on);
        }
        self
    }

    /// Directions per relation code (tuned on dev: held to or not) over what `new` resolved.
    /// A relation whose training pairs keep no one direction has none to hold to.
    pub fn with_pair_directions(
        mut self,
        relations: &[String],
        tuned: &BTreeMap<String, bool>,
    ) -> Self {
        overlay(&mut self.directed, relations, tuned);
        for (slot, d) in self.directed.iter_mut().zip(&self.directions) {
            *slot &= d.is_some();
        }
        self
    }

    /// The same rules with every relation held to its learned direction (or none held).
    pub fn with_direction_everywhere(mut self, on: bool) -> DecodeRules {
        for (slot, d) in self.directed.iter_mut().zip(&self.directions) {
            *slot = on && d.is_some();
        }
        self
    }

    /// The direction relation `r`'s pairs are held to, if any.
    pub fn direction(&self, r: usize) -> Option<Direction> {
        self.directed
            .get(r)
            .copied()
            .unwrap_or(false)
            .then(|| self.directions[r])
            .flatten()
    }

    /// Whether any relation is blocked (else [`unblocked`](Self::unblocked) keeps every pair).
    pub fn blocks_any(&self) -> bool {
        self.blocks.iter().any(|&b| b)
    }

    /// Whether relation `r`'s subjects may not pair past an entity of their own type.
    pub fn blocks(&self, r: usize) -> bool {
        self.blocks.get(r).copied().unwrap_or(false)
    }

    /// Which of a report's decoded `pairs` the blocking rule keeps: a pair of a blocked
    /// relation goes when another decoded entity of its subject's type (the subject or object
    /// of any pair) lies between its two ends. The entities are those of all `pairs`, so the
    /// answer does not depend on their order.
    pub fn unblocked(&self, pairs: &[TypedPair<'_>]) -> Vec<bool> {
        if !pairs.iter().any(|p| self.blocks(p.relation)) {
            return vec![true; pairs.len()];
        }
        let mut entities: Vec<((usize, usize), &str)> = pairs
            .iter()
            .flat_map(|p| [(p.subject, p.subject_type), (p.object, p.object_type)])
            .collect();
        entities.sort_unstable();
        entities.dedup();
        pairs
            .iter()
            .map(|p| {
                !self.blocks(p.relation)
                    || !entities
                        .iter()
                        .any(|&(e, ty)| ty == p.subject_type && in_gap(p.subject, p.object, e))
            })
            .collect()
    }

    /// The scope relation `r` pairs within.
    pub fn scope(&self, r: usize) -> Scope {
        self.scopes.get(r).copied().unwrap_or(Scope::Segment)
    }

    /// Object thresholds per relation code (tuned on dev), for the model's `relations`;
    /// relations without one keep `[decode]`'s `object_threshold`.
    pub fn with_object_thresholds(
        mut self,
        relations: &[String],
        tuned: &BTreeMap<String, f32>,
    ) -> DecodeRules {
        self.object = relations.iter().map(|c| tuned.get(c).copied()).collect();
        self
    }

    /// The object threshold of relation `r`: its tuned one, else `default`.
    pub fn object_threshold(&self, r: usize, default: f32) -> f32 {
        self.object.get(r).copied().flatten().unwrap_or(default)
    }

    /// Whether any rule needs the report's text.
    pub fn is_on(&self) -> bool {
        self.stats.is_some()
    }

    /// For each input position of `ex`, one past the last position a span starting there may
    /// end at (`None` when spans are unbounded). A position whose token is a clause mark opens
    /// nothing and no span reaches past it.
    pub fn reach(&self, ex: &SegmentExample, layout: &TextLayout) -> Option<Vec<usize>> {
        let stats = self.stats.as_ref()?;
        if self.span_rule != SpanRule::Bounded {
            return None;
        }
        let n = ex.offsets.len();
        let barrier: Vec<bool> = ex
            .offsets
            .iter()
            .map(|o| {
                o.is_none_or(|(a, b)| {
                    layout.chars[a.min(layout.chars.len())..b.min(layout.chars.len())]
                        .iter()
                        .any(|&c| stats.is_mark(c))
                })
            })
            .collect();
        Some(
            (0..n)
                .map(|s| {
                    let Some((first, _)) = ex.offsets[s] else {
                        return s;
                    };
                    let mut e = s;
                    while e < n && !barrier[e] {
                        match ex.offsets[e] {
                            Some((_, z)) if z - first <= self.max_chars => e += 1,
                            _ => break,
                        }
                    }
                    e
                })
                .collect(),
        )
    }

    /// Whether the object span `o` may pair with the subject span `s` (char spans) under
    /// relation `r`, and if not, which rule leaves it out (the extraction summary counts them).
    pub fn pair_verdict(
        &self,
        r: usize,
        layout: &TextLayout,
        s: (usize, usize),
        o: (usize, usize),
    ) -> PairVerdict {
        let (Some(stats), Some(scope)) = (&self.stats, self.scopes.get(r)) else {
            return PairVerdict::Allowed;
        };
        if self.direction(r).is_some_and(|d| !d.holds(s, o)) {
            return PairVerdict::WrongSide;
        }
        let within = match scope {
            Scope::Segment => true,
            Scope::Sentence => {
                sentence_of(&layout.sentences, s.0) == sentence_of(&layout.sentences, o.0)
            }
            Scope::Clause => {
                sentence_of(&layout.sentences, s.0) == sentence_of(&layout.sentences, o.0)
                    && !separated(&layout.chars, s, o, |c| stats.is_mark(c))
            }
        };
        if within {
            PairVerdict::Allowed
        } else {
            PairVerdict::OutOfScope
        }
    }
}

/// What the rules say of one decoded (subject, object) pair before blocking
/// ([`DecodeRules::pair_verdict`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairVerdict {
    Allowed,
    /// The object lies on the side of the subject the relation's pairs do not keep to
    /// (`pair_direction`).
    WrongSide,
    /// The object lies outside the relation's clause or sentence (`pair_scope`).
    OutOfScope,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::testkit::record;

    /// Whether the rules let `o` pair with `s` under relation `r`.
    fn allowed(
        rules: &DecodeRules,
        r: usize,
        layout: &TextLayout,
        s: (usize, usize),
        o: (usize, usize),
    ) -> bool {
        rules.pair_verdict(r, layout, s, o) == PairVerdict::Allowed
    }

    /// A (subject, object) pair of char spans.
    type Pair = ((usize, usize), (usize, usize));

    /// A record whose McBp relations pair (subject, object) char spans.
    fn rec(text: &str, pairs: &[Pair]) -> Record {
        let ents: Vec<(&str, usize, usize)> = pairs
            .iter()
            .flat_map(|&(s, o)| [("Mc", s.0, s.1), ("Bp", o.0, o.1)])
            .collect();
        let rels: Vec<(&str, usize, usize)> = (0..pairs.len())
            .map(|i| ("McBp", 2 * i, 2 * i + 1))
            .collect();
        record("r", text, &ents, &rels)
    }

    #[test]
    fn learns_the_longest_entity_the_marks_inside_and_each_relation_scope() {
        // 支架 (2..4) → 前降支 (5..8), same clause, 600 times (1,200 entities); and one
        // entity with '：' inside: a single slip (under 0.1 %) does not open ':' for spans.
        let text = "植入支架于前降支，好";
        let mut records: Vec<Record> = (0..600).map(|_| rec(text, &[((2, 4), (5, 8))])).collect();
        let stats = SpanStats::from_records(&records);
        assert_eq!(stats.max_entity_chars, 3);
        assert_eq!(stats.relations["McBp"].scope(0.99), Scope::Clause);
        let slip = rec("支架：前降支，后", &[((0, 6), (0, 2))]);
        records.push(slip.clone());
        let stats = SpanStats::from_records(&records);
        assert_eq!(stats.marks_inside, "");
        assert_eq!(stats.max_entity_chars, 6);
        // Two of them in 1,204 entities are a pattern.
        let mut twice = records.clone();
        twice.push(slip);
        assert_eq!(SpanStats::from_records(&twice).marks_inside, "：");
        // Twenty pairs in 621 across a clause (96.8 %) widen the scope to the sentence at a
        // 99 % coverage, not at 90 %.
        records.extend((0..20).map(|_| rec("支架，前降支", &[((0, 2), (3, 6))])));
        let stats = SpanStats::from_records(&records);
        let p = &stats.relations["McBp"];
        assert_eq!((p.pairs, p.same_clause, p.same_sentence), (621, 601, 621));
        assert_eq!(p.scope(0.99), Scope::Sentence);
        assert_eq!(p.scope(0.9), Scope::Clause);
        // Too few pairs say nothing.
        let few = SpanStats::from_records(&records[..3]);
        assert_eq!(few.relations["McBp"].scope(0.5), Scope::Segment);
    }

    #[test]
    fn rules_off_need_no_stats_and_on_they_refuse_a_model_without() {
        let codes = vec!["McBp".to_owned()];
        let off = DecodeRules::new(
            SpanRule::Nearest,
            (PairScope::Segment, 0.99),
            [PairRule::Off; 2],
            0.99,
            None,
            &codes,
        )
        .unwrap();
        assert!(!off.is_on());
        assert!(DecodeRules::new(
            SpanRule::Bounded,
            (PairScope::Segment, 0.99),
            [PairRule::Off; 2],
            0.99,
            None,
            &codes
        )
        .is_err());
    }

    #[test]
    fn bounded_spans_stop_at_clause_marks_and_the_longest_gold_entity() {
        // Longest gold entity: 前降支近段 (5 chars).
        let records: Vec<Record> = (0..20)
            .map(|_| rec("于前降支近段，植入支架", &[((9, 11), (1, 6))]))
            .collect();
        let stats = SpanStats::from_records(&records);
        assert_eq!(stats.max_entity_chars, 5);
        let text = "于前降支近段，植入支架";
        // [CLS], one token per char, [SEP].
        let mut offsets = vec![None];
        offsets.extend((0..11).map(|i| Some((i, i + 1))));
        offsets.push(None);
        let ex = SegmentExample {
            record_id: "r".into(),
            segment: 0,
            char_start: 0,
            char_end: 11,
            input_ids: vec![0; offsets.len()],
            offsets,
            subjects: Vec::new(),
        };
        let codes = vec!["McBp".to_owned()];
        let layout = TextLayout::new(text);
        let bounded = DecodeRules::new(
            SpanRule::Bounded,
            (PairScope::Segment, 0.99),
            [PairRule::Off; 2],
            0.99,
            Some(&stats),
            &codes,
        )
        .unwrap();
        let reach = bounded.reach(&ex, &layout).unwrap();
        // 前 (position 2) may end at 段 (6), not at the comma (7) or beyond.
        assert_eq!(reach[2], 7);
        // 于 (1): five chars reach 近 (5); 段 would make six.
        assert_eq!(reach[1], 6);
        // The comma opens nothing; [CLS] and [SEP] neither.
        assert_eq!((reach[0], reach[7], reach[12]), (0, 7, 12));
        // 植 (8) runs to 架 (11), then [SEP].
        assert_eq!(reach[8], 12);
        let nearest = DecodeRules::new(
            SpanRule::Nearest,
            (PairScope::Learned, 0.99),
            [PairRule::Off; 2],
            0.99,
            Some(&stats),
            &codes,
        )
        .unwrap();
        assert!(nearest.reach(&ex, &layout).is_none());
    }

    /// Text of the scope tests: McBp's 20 training pairs sit in one clause; BpSy has none.
    const SCOPE_TEXT: &str = "支架于前降支，回旋支。右冠";

    /// Rules for (McBp, BpSy) learned from [`SCOPE_TEXT`] under `pair_scope`.
    fn scope_rules(pair_scope: PairScope) -> (DecodeRules, Vec<String>) {
        let records: Vec<Record> = (0..20)
            .map(|_| rec(SCOPE_TEXT, &[((0, 2), (3, 6))]))
            .collect();
        let stats = SpanStats::from_records(&records);
        let codes = vec!["McBp".to_owned(), "BpSy".to_owned()];
        let rules = DecodeRules::new(
            SpanRule::Nearest,
            (pair_scope, 0.99),
            [PairRule::Off; 2],
            0.99,
            Some(&stats),
            &codes,
        )
        .unwrap();
        (rules, codes)
    }

    #[test]
    fn pairs_keep_to_the_learned_scope() {
        let (rules, _) = scope_rules(PairScope::Learned);
        let layout = TextLayout::new(SCOPE_TEXT);
        assert!(allowed(&rules, 0, &layout, (0, 2), (3, 6)));
        assert!(!allowed(&rules, 0, &layout, (0, 2), (7, 10)), "next clause");
        assert!(
            !allowed(&rules, 0, &layout, (0, 2), (11, 13)),
            "next sentence"
        );
        // BpSy has no training pairs: anywhere.
        assert!(allowed(&rules, 1, &layout, (0, 2), (11, 13)));
        // The extraction summary counts these under the scope rule.
        assert_eq!(
            rules.pair_verdict(0, &layout, (0, 2), (7, 10)),
            PairVerdict::OutOfScope
        );
    }

    #[test]
    fn tuned_scopes_override_the_learned_ones_per_relation() {
        let (rules, codes) = scope_rules(PairScope::Tuned);
        // Before tuning, the learned scopes.
        assert_eq!(
            (rules.scope(0), rules.scope(1)),
            (Scope::Clause, Scope::Segment)
        );
        let tuned: BTreeMap<String, Scope> = [("McBp".to_owned(), Scope::Sentence)].into();
        let rules = rules.with_pair_scopes(&codes, &tuned);
        assert_eq!(
            (rules.scope(0), rules.scope(1)),
            (Scope::Sentence, Scope::Segment)
        );
        let layout = TextLayout::new(SCOPE_TEXT);
        assert!(allowed(&rules, 0, &layout, (0, 2), (7, 10)), "next clause");
        assert!(
            !allowed(&rules, 0, &layout, (0, 2), (11, 13)),
            "next sentence"
        );
        let everywhere = rules.with_scope_everywhere(Scope::Clause);
        assert_eq!(
            (everywhere.scope(0), everywhere.scope(1)),
            (Scope::Clause, Scope::Clause)
        );
        for scope in [Scope::Clause, Scope::Sentence, Scope::Segment] {
            let json = serde_json::to_string(&scope).unwrap();
            assert_eq!(json, format!("\"{}\"", scope.name()));
        }
        // CasRel's decoding has no statistics: tuned scopes cannot narrow it.
        let off = DecodeRules::off().with_pair_scopes(&codes, &tuned);
        assert_eq!(off.scope(0), Scope::Segment);
    }

    /// Text of the blocking tests: two vessels, each with its finding, in one comma list;
    /// then two devices sent to one vessel.
    const BLOCK_TEXT: &str = "前降支病变，回旋支狭窄；导丝、球囊至右冠";

    /// 20 reports of [`BLOCK_TEXT`] annotated as its author meant: each vessel its own
    /// finding (BpSy), both devices the shared vessel (McBp; the first passes the second).
    fn block_records() -> Vec<Record> {
        let ents = [
            ("Bp", 0, 3),   // 前降支
            ("Sy", 3, 5),   // 病变
            ("Bp", 6, 9),   // 回旋支
            ("Sy", 9, 11),  // 狭窄
            ("Mc", 12, 14), // 导丝
            ("Mc", 15, 17), // 球囊
            ("Bp", 18, 20), // 右冠
        ];
        let rels = [
            ("BpSy", 0, 1),
            ("BpSy", 2, 3),
            ("McBp", 4, 6),
            ("McBp", 5, 6),
        ];
        (0..20)
            .map(|i| record(&i.to_string(), BLOCK_TEXT, &ents, &rels))
            .collect()
    }

    #[test]
    fn learns_which_relations_never_pass_an_entity_of_the_subjects_type() {
        let stats = SpanStats::from_records(&block_records());
        let (bpsy, mcbp) = (&stats.relations["BpSy"], &stats.relations["McBp"]);
        // 回旋支 is not between 前降支 and 病变: no BpSy pair passes a body part.
        assert_eq!((bpsy.pairs, bpsy.blocked), (40, Some(0)));
        // 导丝 → 右冠 passes 球囊, 20 times in 40.
        assert_eq!((mcbp.pairs, mcbp.blocked), (40, Some(20)));
        assert!(bpsy.blocks(0.99));
        assert!(!mcbp.blocks(0.99));
        assert!(mcbp.blocks(0.5));
        // Every finding and every vessel follows its subject.
        assert_eq!((bpsy.backward, mcbp.backward), (Some(0), Some(0)));
        assert_eq!(bpsy.direction(0.99), Some(Direction::Forward));
        let mixed = |backward| PairStats {
            backward: Some(backward),
            ..bpsy.clone()
        };
        assert_eq!(mixed(40).direction(0.99), Some(Direction::Backward));
        assert_eq!(mixed(1).direction(0.99), None);
        assert_eq!(mixed(1).direction(0.95), Some(Direction::Forward));
        // Too few pairs, or statistics from before the count: never blocked.
        let few = SpanStats::from_records(&block_records()[..3]);
        assert!(!few.relations["BpSy"].blocks(0.5));
        assert_eq!(few.relations["BpSy"].direction(0.5), None);
        let old = PairStats {
            blocked: None,
            backward: None,
            ..bpsy.clone()
        };
        assert!(!old.blocks(0.0));
        assert_eq!(old.direction(0.0), None);
        let json = serde_json::to_value(&old).unwrap();
        assert!(json.get("blocked").is_none() && json.get("backward").is_none());
        assert_eq!(serde_json::from_value::<PairStats>(json).unwrap(), old);
    }

    #[test]
    fn a_blocked_subject_does_not_pair_past_an_entity_of_its_type() {
        let stats = SpanStats::from_records(&block_records());
        let codes = vec!["BpSy".to_owned(), "McBp".to_owned()];
        let rules = |block| {
            DecodeRules::new(
                SpanRule::Nearest,
                (PairScope::Segment, 0.99),
                [block, PairRule::Off],
                0.99,
                Some(&stats),
                &codes,
            )
            .unwrap()
        };
        let pair = |relation, subject, object| {
            let (subject_type, object_type) = if relation == 0 {
                ("Bp", "Sy")
            } else {
                ("Mc", "Bp")
            };
            TypedPair {
                relation,
                subject,
                subject_type,
                object,
                object_type,
            }
        };
        // What a model decodes on the comma list: every vessel with every finding, and both
        // devices to the vessel.
        let pairs = [
            pair(0, (0, 3), (3, 5)),
            pair(0, (0, 3), (9, 11)), // 前降支 … 狭窄, past 回旋支
            pair(0, (6, 9), (3, 5)),  // 回旋支 back to 病变, past nothing: kept
            pair(0, (6, 9), (9, 11)),
            pair(1, (12, 14), (18, 20)), // past 球囊, but McBp is not blocked
            pair(1, (15, 17), (18, 20)),
        ];
        let learned = rules(PairRule::Learned);
        assert!(learned.is_on() && learned.blocks(0) && !learned.blocks(1));
        assert!(learned.blocks_any() && !rules(PairRule::Off).blocks_any());
        assert_eq!(
            learned.unblocked(&pairs),
            vec![true, false, true, true, true, true]
        );
        // The order of the pairs changes nothing.
        let mut reversed = pairs;
        reversed.reverse();
        let mut back = learned.unblocked(&reversed);
        back.reverse();
        assert_eq!(back, learned.unblocked(&pairs));
        // Off: every pair stays, and with no other rule the rules need no statistics.
        assert!(rules(PairRule::Off).unblocked(&pairs).iter().all(|&k| k));
        let none = DecodeRules::new(
            SpanRule::Nearest,
            (PairScope::Segment, 0.99),
            [PairRule::Off; 2],
            0.99,
            None,
            &codes,
        )
        .unwrap();
        assert!(!none.is_on());
        assert!(DecodeRules::new(
            SpanRule::Nearest,
            (PairScope::Segment, 0.99),
            [PairRule::Learned, PairRule::Off],
            0.99,
            None,
            &codes,
        )
        .is_err());
        // Tuned on dev: per relation over the learned choice, or everywhere.
        let tuned: BTreeMap<String, bool> =
            [("BpSy".to_owned(), false), ("McBp".to_owned(), true)].into();
        let flipped = rules(PairRule::Tuned).with_pair_blocks(&codes, &tuned);
        assert!(!flipped.blocks(0) && flipped.blocks(1));
        assert_eq!(
            flipped.unblocked(&pairs),
            vec![true, true, true, true, false, true]
        );
        let everywhere = learned.with_block_everywhere(true);
        assert!(everywhere.blocks(0) && everywhere.blocks(1));
    }

    #[test]
    fn a_directed_relation_pairs_only_on_its_side_of_the_subject() {
        let stats = SpanStats::from_records(&block_records());
        let codes = vec!["BpSy".to_owned(), "McBp".to_owned(), "TmDo".to_owned()];
        let rules = |direction| {
            DecodeRules::new(
                SpanRule::Nearest,
                (PairScope::Segment, 0.99),
                [PairRule::Off, direction],
                0.99,
                Some(&stats),
                &codes,
            )
            .unwrap()
        };
        let layout = TextLayout::new(BLOCK_TEXT);
        let learned = rules(PairRule::Learned);
        assert_eq!(learned.direction(0), Some(Direction::Forward));
        // TmDo has no training pairs: no direction to hold to.
        assert_eq!(learned.direction(2), None);
        // 回旋支 forward to 狭窄, not back to the previous clause's 病变.
        assert!(allowed(&learned, 0, &layout, (6, 9), (9, 11)));
        assert!(!allowed(&learned, 0, &layout, (6, 9), (3, 5)));
        assert_eq!(
            learned.pair_verdict(0, &layout, (6, 9), (3, 5)),
            PairVerdict::WrongSide
        );
        assert!(allowed(&learned, 2, &layout, (6, 9), (3, 5)));
        let off = rules(PairRule::Off);
        assert_eq!(off.direction(0), None);
        assert!(allowed(&off, 0, &layout, (6, 9), (3, 5)));
        // Tuned on dev: per relation, or everywhere; a relation without a direction stays free.
        let tuned: BTreeMap<String, bool> =
            [("BpSy".to_owned(), false), ("TmDo".to_owned(), true)].into();
        let flipped = rules(PairRule::Tuned).with_pair_directions(&codes, &tuned);
        assert_eq!(
            (
                flipped.direction(0),
                flipped.direction(1),
                flipped.direction(2)
            ),
            (None, Some(Direction::Forward), None)
        );
        let none = learned.clone().with_direction_everywhere(false);
        assert!((0..3).all(|r| none.direction(r).is_none()));
        let all = none.with_direction_everywhere(true);
        assert_eq!(all.direction(1), Some(Direction::Forward));
        assert!(
            Direction::Backward.holds((6, 9), (3, 5)) && !Direction::Backward.holds((0, 3), (3, 5))
        );
    }

    #[test]
    fn the_gap_lies_between_the_two_ends_outside_both() {
        assert!(in_gap((0, 3), (9, 11), (6, 9)));
        assert!(in_gap((9, 11), (0, 3), (6, 9)), "object first");
        assert!(!in_gap((0, 3), (9, 11), (2, 5)), "overlaps the subject");
        assert!(!in_gap((0, 3), (3, 5), (3, 3)), "empty");
        assert!(!in_gap((0, 5), (3, 8), (4, 5)), "the ends overlap: no gap");
    }
}

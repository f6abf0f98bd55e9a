//! Coronary segments: which vessel and which part of it a body-part text names.
//!
//! Body-part (Bp) entities are keyed by their normalised text (`normalize`), so "前降支近段",
//! "LAD近段" and "左前降支近端" are three nodes although they are one place: the proximal left
//! anterior descending artery, SYNTAX segment 6. This module links such texts to segment
//! concepts (vessel, position, SYNTAX/AHA segment number), so the graph can be asked for every
//! finding in segment 6 whatever words the reports used. A text that names no coronary vessel
//! (an access artery, the left ventricle) links nothing and keeps its text node only.
//!
//! The vocabulary lives in `ontology/segments.toml`, not in Rust constants: which spellings
//! name which vessel, which number a segment has and what a generic name such as "对角支"
//! means are clinical decisions, and a table lets a clinician review and extend them without a
//! programmer. The file's comments say how a text is read and why each numbering decision was
//! made; [`SegmentTable::parse`] rejects a table that would link ambiguously (an alias given to
//! two vessels, a position the table does not define), and [`SegmentTable::content_hash`] lets
//! the graph notice that the table changed and relink.
//!
//! Reading a text, in short (details in the toml): vessel aliases are found left to right,
//! longest first; right after each, position words are read, joined by range words ("近-远段" =
//! proximal, mid, distal) or list words ("近段及远段"); positions the vessel does not list are
//! dropped, and a vessel without positions is linked at vessel level.

use std::collections::HashMap;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::normalize::normalize;

/// The segment table shipped in `ontology/segments.toml`, compiled in so that a binary run from
/// any directory has it.
pub const SEGMENTS_TOML: &str = include_str!("../../ontology/segments.toml");

/// A coronary vessel (native artery, branch or bypass graft).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vessel {
    /// Short code, the first part of a segment id (`LAD`).
    pub code: String,
    pub en: String,
    pub zh: String,
}

/// A position along a vessel (`proximal`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub code: String,
    pub en: String,
    pub zh: String,
}

/// One (vessel, position) segment; `number` is the SYNTAX/AHA segment number when the table
/// gives one. `vessel` and `position` are codes of the table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Segment {
    pub vessel: String,
    /// `None`: the vessel as a whole (the text named no position the vessel has).
    pub position: Option<String>,
    pub number: Option<String>,
}

impl Segment {
    /// IRI-safe id: "LAD-proximal", "LAD" (no position), "RCA-distal". Codes are checked to be
    /// ASCII letters, digits and `_` when the table is parsed, so the id needs no escaping.
    pub fn id(&self) -> String {
        match &self.position {
            Some(p) => format!("{}-{}", self.vessel, p),
            None => self.vessel.clone(),
        }
    }
}

/// What a body-part text names: one entry per (vessel, position) named, vessels in text order
/// and each vessel's positions from the ostium outward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentLink {
    pub segments: Vec<Segment>,
}

// ── The file format ─────────────────────────────────────────────────────────────────────────
// `deny_unknown_fields` everywhere: a misspelt key in a hand-edited table must be an error,
// not a silently ignored line.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    joiners: RawJoiners,
    #[serde(rename = "position")]
    positions: Vec<RawPosition>,
    #[serde(rename = "vessel")]
    vessels: Vec<RawVessel>,
    #[serde(default, rename = "implied")]
    implied: Vec<RawImplied>,
    #[serde(default, rename = "not_coronary")]
    not_coronary: Vec<RawNotCoronary>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJoiners {
    #[serde(default)]
    range: Vec<String>,
    #[serde(default)]
    list: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPosition {
    code: String,
    en: String,
    zh: String,
    aliases: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVessel {
    code: String,
    en: String,
    zh: String,
    aliases: Vec<String>,
    #[serde(default)]
    segments: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    whole: String,
    #[serde(default)]
    branch_of: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImplied {
    text: String,
    vessel: String,
    position: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotCoronary {
    text: String,
}

// ── The parsed table ────────────────────────────────────────────────────────────────────────

/// What the linker knows of one vessel beyond its labels.
#[derive(Debug, Clone)]
struct VesselData {
    aliases: Vec<String>,
    /// Indexed by position: `None` = the vessel does not have this position; `Some(number)` =
    /// it has it, with that SYNTAX number (`Some(None)`: no number, e.g. mid LCX).
    numbers: Vec<Option<Option<String>>>,
    /// Number of the vessel-level segment.
    whole: Option<String>,
    /// Vessels this one branches from (indices).
    branch_of: Vec<usize>,
}

/// What a word found at the start of a vessel mention stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Head {
    /// A vessel, and the position an implied alias names with it ("左冠口").
    Vessel(usize, Option<usize>),
    /// A text that contains a vessel alias but is not that vessel ("右冠窦").
    NotCoronary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Joiner {
    /// "近-远段": everything between the two positions.
    Range,
    /// "近段及远段": the two positions only.
    List,
}

/// Words of one kind, longest first, so the first match at a place is the longest one.
#[derive(Debug, Clone)]
struct Matcher<T> {
    words: Vec<(String, T)>,
}

impl<T: Copy> Matcher<T> {
    fn new(mut words: Vec<(String, T)>) -> Matcher<T> {
        // Ties in length cannot both match at one place (words are unique), so the text order
        // is only for determinism.
        words.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        Matcher { words }
    }

    /// The longest word that starts at byte `at` of `text` (a char boundary), with its length
    /// in bytes. Latin words match whole words only: a word that begins (ends) with an ASCII
    /// letter or digit must not be preceded (followed) by one, so "lad" is not found in
    /// "ladder" nor "om" in "from", while "lad近段" has "lad".
    fn longest_at(&self, text: &str, at: usize) -> Option<(usize, T)> {
        let rest = text.get(at..)?;
        let before = text.get(..at).and_then(|s| s.chars().next_back());
        self.words.iter().find_map(|(w, t)| {
            if !rest.starts_with(w.as_str()) {
                return None;
            }
            let after = rest.get(w.len()..).and_then(|s| s.chars().next());
            let first = w.chars().next();
            let last = w.chars().next_back();
            let glued = |edge: Option<char>, neighbour: Option<char>| {
                edge.is_some_and(|c| c.is_ascii_alphanumeric())
                    && neighbour.is_some_and(|c| c.is_ascii_alphanumeric())
            };
            if glued(first, before) || glued(last, after) {
                return None;
            }
            Some((w.len(), *t))
        })
    }
}

/// The segment table: vessels, positions, the words that name them, and the SYNTAX numbers.
#[derive(Debug, Clone)]
pub struct SegmentTable {
    vessels: Vec<Vessel>,
    positions: Vec<Position>,
    vessel_data: Vec<VesselData>,
    position_aliases: Vec<Vec<String>>,
    /// (text, vessel, position) of the `[[implied]]` entries.
    implied: Vec<(String, usize, usize)>,
    not_coronary: Vec<String>,
    range_joiners: Vec<String>,
    list_joiners: Vec<String>,
    heads: Matcher<Head>,
    position_words: Matcher<usize>,
    joiner_words: Matcher<Joiner>,
}

/// A code becomes part of an IRI (`Segment::id`): ASCII letters, digits and `_` only.
fn valid_code(code: &str) -> bool {
    !code.is_empty() && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A segment number: "" (none), or ASCII letters and digits ("6", "12a").
fn parse_number(what: &str, n: &str) -> Result<Option<String>, String> {
    if n.is_empty() {
        Ok(None)
    } else if n.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(Some(n.to_string()))
    } else {
        Err(format!(
            "segments.toml: {what}: segment number {n:?} must be ASCII letters and digits (\"6\", \"12a\") or \"\""
        ))
    }
}

impl SegmentTable {
    /// Parse and validate a table in the format of `ontology/segments.toml`.
    ///
    /// Rejected, with a message naming the entry: unknown keys; a vessel or position code that
    /// is empty, repeated or not `[A-Za-z0-9_]`; an alias that is empty or not already
    /// normalised (the linker sees normalised texts only, so such an alias could never match);
    /// any word (vessel alias, implied text, not-coronary text, position alias, joiner) listed
    /// twice, which would make a text ambiguous; a `segments` key or implied position that is
    /// not a position of the table; an implied position the vessel does not list; an unknown
    /// `branch_of` vessel.
    pub fn parse(toml_text: &str) -> Result<SegmentTable, String> {
        let raw: RawTable = toml::from_str(toml_text).map_err(|e| format!("segments.toml: {e}"))?;
        if raw.vessels.is_empty() {
            return Err("segments.toml: no [[vessel]] entries".to_string());
        }
        if raw.positions.is_empty() {
            return Err("segments.toml: no [[position]] entries".to_string());
        }

        // Every word of the table, with who owns it: one namespace, so that no text can be read
        // two ways.
        let mut owners: HashMap<String, String> = HashMap::new();
        let mut claim = |word: &str, owner: String| -> Result<(), String> {
            if word.is_empty() {
                return Err(format!("segments.toml: {owner}: empty alias"));
            }
            let normal = normalize(word);
            if normal != word {
                return Err(format!(
                    "segments.toml: {owner}: alias {word:?} is not normalised (write it as {normal:?}: lower-case Latin, half-width, no spaces next to Chinese)"
                ));
            }
            if let Some(first) = owners.get(word) {
                return Err(format!(
                    "segments.toml: {word:?} is listed twice, by {first} and by {owner}: a word may name one thing only"
                ));
            }
            owners.insert(word.to_string(), owner);
            Ok(())
        };

        let mut positions = Vec::new();
        let mut position_aliases = Vec::new();
        let mut position_index: HashMap<String, usize> = HashMap::new();
        for p in &raw.positions {
            if !valid_code(&p.code) {
                return Err(format!(
                    "segments.toml: position code {:?} must be ASCII letters, digits or _",
                    p.code
                ));
            }
            if position_index
                .insert(p.code.clone(), positions.len())
                .is_some()
            {
                return Err(format!(
                    "segments.toml: position code {:?} is defined twice",
                    p.code
                ));
            }
            if p.aliases.is_empty() {
                return Err(format!("segments.toml: position {} has no aliases", p.code));
            }
            for a in &p.aliases {
                claim(a, format!("position {}", p.code))?;
            }
            positions.push(Position {
                code: p.code.clone(),
                en: p.en.clone(),
                zh: p.zh.clone(),
            });
            position_aliases.push(p.aliases.clone());
        }

        let mut vessel_index: HashMap<String, usize> = HashMap::new();
        for (i, v) in raw.vessels.iter().enumerate() {
            if !valid_code(&v.code) {
                return Err(format!(
                    "segments.toml: vessel code {:?} must be ASCII letters, digits or _",
                    v.code
                ));
            }
            if vessel_index.insert(v.code.clone(), i).is_some() {
                return Err(format!(
                    "segments.toml: vessel code {:?} is defined twice",
                    v.code
                ));
            }
        }

        let mut vessels = Vec::new();
        let mut vessel_data = Vec::new();
        for v in &raw.vessels {
            if v.aliases.is_empty() {
                return Err(format!("segments.toml: vessel {} has no aliases", v.code));
            }
            for a in &v.aliases {
                claim(a, format!("vessel {}", v.code))?;
            }
            let mut numbers = vec![None; positions.len()];
            for (key, n) in &v.segments {
                let &p = position_index.get(key).ok_or_else(|| {
                    format!(
                        "segments.toml: vessel {}: `segments` names position {key:?}, which is not a [[position]] code",
                        v.code
                    )
                })?;
                numbers[p] = Some(parse_number(&format!("vessel {} {key}", v.code), n)?);
            }
            let mut branch_of = Vec::new();
            for parent in &v.branch_of {
                match vessel_index.get(parent) {
                    Some(&j) if *parent != v.code => branch_of.push(j),
                    _ => {
                        return Err(format!(
                            "segments.toml: vessel {}: branch_of names {parent:?}, which is not another vessel's code",
                            v.code
                        ))
                    }
                }
            }
            vessels.push(Vessel {
                code: v.code.clone(),
                en: v.en.clone(),
                zh: v.zh.clone(),
            });
            vessel_data.push(VesselData {
                aliases: v.aliases.clone(),
                numbers,
                whole: parse_number(&format!("vessel {} whole", v.code), &v.whole)?,
                branch_of,
            });
        }

        let mut implied = Vec::new();
        for im in &raw.implied {
            let owner = format!("implied {:?}", im.text);
            let &v = vessel_index
                .get(&im.vessel)
                .ok_or_else(|| format!("segments.toml: {owner}: unknown vessel {:?}", im.vessel))?;
            let &p = position_index.get(&im.position).ok_or_else(|| {
                format!("segments.toml: {owner}: unknown position {:?}", im.position)
            })?;
            if vessel_data[v].numbers[p].is_none() {
                return Err(format!(
                    "segments.toml: {owner}: vessel {} has no position {} in its `segments`",
                    im.vessel, im.position
                ));
            }
            claim(&im.text, owner)?;
            implied.push((im.text.clone(), v, p));
        }
        let mut not_coronary = Vec::new();
        for nc in &raw.not_coronary {
            claim(&nc.text, format!("not_coronary {:?}", nc.text))?;
            not_coronary.push(nc.text.clone());
        }
        for j in &raw.joiners.range {
            claim(j, "joiners.range".to_string())?;
        }
        for j in &raw.joiners.list {
            claim(j, "joiners.list".to_string())?;
        }

        let mut head_words = Vec::new();
        for (v, d) in vessel_data.iter().enumerate() {
            for a in &d.aliases {
                head_words.push((a.clone(), Head::Vessel(v, None)));
            }
        }
        for (text, v, p) in &implied {
            head_words.push((text.clone(), Head::Vessel(*v, Some(*p))));
        }
        for text in &not_coronary {
            head_words.push((text.clone(), Head::NotCoronary));
        }
        let position_words = position_aliases
            .iter()
            .enumerate()
            .flat_map(|(p, aliases)| aliases.iter().map(move |a| (a.clone(), p)))
            .collect();
        let joiner_words = raw
            .joiners
            .range
            .iter()
            .map(|j| (j.clone(), Joiner::Range))
            .chain(raw.joiners.list.iter().map(|j| (j.clone(), Joiner::List)))
            .collect();

        Ok(SegmentTable {
            vessels,
            positions,
            vessel_data,
            position_aliases,
            implied,
            not_coronary,
            range_joiners: raw.joiners.range,
            list_joiners: raw.joiners.list,
            heads: Matcher::new(head_words),
            position_words: Matcher::new(position_words),
            joiner_words: Matcher::new(joiner_words),
        })
    }

    /// The table compiled in from `ontology/segments.toml` (a unit test parses it, so this
    /// cannot fail in a tested build).
    pub fn default_table() -> SegmentTable {
        SegmentTable::parse(SEGMENTS_TOML).expect("ontology/segments.toml is a valid segment table")
    }

    pub fn vessels(&self) -> &[Vessel] {
        &self.vessels
    }

    /// Positions from the ostium outward (the order ranges are filled in).
    pub fn positions(&self) -> &[Position] {
        &self.positions
    }

    /// The segments named by a NORMALISED body-part text; `None` when it names no coronary
    /// vessel. A vessel named without a position gives one `Segment` with position `None`
    /// (number = the vessel's `whole`).
    pub fn link(&self, normalized: &str) -> Option<SegmentLink> {
        let text = normalized;
        // (vessel, positions read after it, end of its alias and positions)
        let mut named: Vec<(usize, Vec<usize>, usize)> = Vec::new();
        let mut i = 0;
        while i < text.len() {
            match self.heads.longest_at(text, i) {
                Some((len, Head::NotCoronary)) => i += len,
                Some((len, Head::Vessel(v, implied))) => {
                    let (positions, end) = self.read_positions(text, i + len, implied);
                    // "右冠后降支": a parent named right before its branch, with no position of
                    // its own, only says whose branch it is.
                    if let Some((parent, parent_positions, parent_end)) = named.last() {
                        if *parent_end == i
                            && parent_positions.is_empty()
                            && self.vessel_data[v].branch_of.contains(parent)
                        {
                            named.pop();
                        }
                    }
                    named.push((v, positions, end));
                    i = end;
                }
                None => i += text[i..].chars().next().map_or(1, char::len_utf8),
            }
        }
        if named.is_empty() {
            return None;
        }

        let mut segments: Vec<Segment> = Vec::new();
        for (v, mut positions, _) in named {
            let data = &self.vessel_data[v];
            positions.retain(|&p| data.numbers[p].is_some());
            positions.sort_unstable();
            positions.dedup();
            if positions.is_empty() {
                segments.push(Segment {
                    vessel: self.vessels[v].code.clone(),
                    position: None,
                    number: data.whole.clone(),
                });
            }
            for p in positions {
                segments.push(Segment {
                    vessel: self.vessels[v].code.clone(),
                    position: Some(self.positions[p].code.clone()),
                    number: data.numbers[p].clone().flatten(),
                });
            }
        }
        // A vessel named twice ("右冠远段及右冠"): each segment once, and the vessel-level one
        // only if the text names no part of that vessel.
        let mut out: Vec<Segment> = Vec::with_capacity(segments.len());
        for s in &segments {
            let covered = s.position.is_none()
                && segments
                    .iter()
                    .any(|o| o.vessel == s.vessel && o.position.is_some());
            if !covered && !out.contains(s) {
                out.push(s.clone());
            }
        }
        Some(SegmentLink { segments: out })
    }

    /// Read the position words that follow a vessel alias ending at byte `at`. Returns the
    /// positions (indices, unordered, possibly repeated) and where reading stopped: after the
    /// last position word, or at `at` when there is none.
    fn read_positions(&self, text: &str, at: usize, implied: Option<usize>) -> (Vec<usize>, usize) {
        let mut positions: Vec<usize> = implied.into_iter().collect();
        let mut last = implied;
        let mut pending: Option<Joiner> = None;
        let mut end = at;
        let mut j = at;
        while j < text.len() {
            // Another vessel (or a not-coronary word) starts: its words are its own.
            if self.heads.longest_at(text, j).is_some() {
                break;
            }
            if let Some((len, p)) = self.position_words.longest_at(text, j) {
                match (pending, last) {
                    (Some(Joiner::Range), Some(from)) => {
                        positions.extend(from.min(p)..=from.max(p));
                    }
                    _ => positions.push(p),
                }
                last = Some(p);
                pending = None;
                j += len;
                end = j;
                continue;
            }
            if text[j..].starts_with(' ') {
                // Latin texts keep their spaces: "rca mid".
                j += 1;
                continue;
            }
            if pending.is_none() && last.is_some() {
                if let Some((len, k)) = self.joiner_words.longest_at(text, j) {
                    pending = Some(k);
                    j += len;
                    continue;
                }
            }
            break;
        }
        (positions, end)
    }

    /// Every segment concept the table defines, for writing the concepts into the graph: per
    /// vessel (table order) the vessel-level segment, then each position it lists (from the
    /// ostium outward). Every segment `link` returns is one of these.
    pub fn all_segments(&self) -> Vec<Segment> {
        let mut out = Vec::new();
        for (v, data) in self.vessels.iter().zip(&self.vessel_data) {
            out.push(Segment {
                vessel: v.code.clone(),
                position: None,
                number: data.whole.clone(),
            });
            for (p, number) in self.positions.iter().zip(&data.numbers) {
                if let Some(number) = number {
                    out.push(Segment {
                        vessel: v.code.clone(),
                        position: Some(p.code.clone()),
                        number: number.clone(),
                    });
                }
            }
        }
        out
    }

    /// A stable hash (SHA-256, hex) of what the table says, so the graph knows when a clinician
    /// edited it and links must be redone. It covers every code, label, alias, number and
    /// joiner in table order, and nothing else: an edit to comments or layout keeps the hash.
    /// Each field is written length-prefixed, so no two tables serialise alike.
    pub fn content_hash(&self) -> String {
        let mut h = Sha256::new();
        let mut field = |s: &str| {
            h.update((s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        };
        field("cbrrel segment table v1");
        let list = |field: &mut dyn FnMut(&str), tag: &str, words: &[String]| {
            field(tag);
            field(&words.len().to_string());
            for w in words {
                field(w);
            }
        };
        list(&mut field, "range", &self.range_joiners);
        list(&mut field, "list", &self.list_joiners);
        for (p, aliases) in self.positions.iter().zip(&self.position_aliases) {
            field("position");
            field(&p.code);
            field(&p.en);
            field(&p.zh);
            list(&mut field, "aliases", aliases);
        }
        for (v, d) in self.vessels.iter().zip(&self.vessel_data) {
            field("vessel");
            field(&v.code);
            field(&v.en);
            field(&v.zh);
            list(&mut field, "aliases", &d.aliases);
            for (p, number) in self.positions.iter().zip(&d.numbers) {
                if let Some(number) = number {
                    field("segment");
                    field(&p.code);
                    field(number.as_deref().unwrap_or(""));
                }
            }
            field("whole");
            field(d.whole.as_deref().unwrap_or(""));
            let parents: Vec<String> = d
                .branch_of
                .iter()
                .map(|&j| self.vessels[j].code.clone())
                .collect();
            list(&mut field, "branch_of", &parents);
        }
        for (text, v, p) in &self.implied {
            field("implied");
            field(text);
            field(&self.vessels[*v].code);
            field(&self.positions[*p].code);
        }
        list(&mut field, "not_coronary", &self.not_coronary);
        hex::encode(h.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A link written compactly: "LAD-proximal=6 LAD-mid=7"; a segment without a number has no
    /// "="; no link is "".
    fn show(link: Option<SegmentLink>) -> String {
        link.map(|l| {
            l.segments
                .iter()
                .map(|s| match &s.number {
                    Some(n) => format!("{}={n}", s.id()),
                    None => s.id(),
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
    }

    /// Texts as a report might write them (before normalisation) and what they must link to.
    /// Written for this test, not taken from any corpus.
    const CASES: &[(&str, &str)] = &[
        // Positions, single and compound.
        ("前降支近段", "LAD-proximal=6"),
        ("LAD近段", "LAD-proximal=6"),
        ("ＬＡＤ 近段", "LAD-proximal=6"),
        ("lad近段", "LAD-proximal=6"),
        ("前降支近端", "LAD-proximal=6"),
        ("左前降支中段", "LAD-mid=7"),
        ("前降远段", "LAD-distal=8"),
        ("左前降支心尖段", "LAD-distal=8"),
        ("前降支近中段", "LAD-proximal=6 LAD-mid=7"),
        ("前降支近-中段", "LAD-proximal=6 LAD-mid=7"),
        ("前降支近－中段", "LAD-proximal=6 LAD-mid=7"),
        ("前降支近段至中段", "LAD-proximal=6 LAD-mid=7"),
        ("前降支近段-中段", "LAD-proximal=6 LAD-mid=7"),
        ("前降支中-近段", "LAD-proximal=6 LAD-mid=7"),
        ("前降支中段至远段", "LAD-mid=7 LAD-distal=8"),
        ("前降支近中远段", "LAD-proximal=6 LAD-mid=7 LAD-distal=8"),
        ("右冠状动脉近-远段", "RCA-proximal=1 RCA-mid=2 RCA-distal=3"),
        ("前降支口部-近段", "LAD-ostial=6 LAD-proximal=6"),
        ("前降支开口至中段", "LAD-ostial=6 LAD-proximal=6 LAD-mid=7"),
        ("前降支近-中段狭窄处", "LAD-proximal=6 LAD-mid=7"),
        ("回旋支远段支架内", "LCX-distal=13"),
        // "远端" of the stent, not of the artery.
        ("回旋支中段支架远端", "LCX-mid"),
        ("前降支", "LAD"),
        ("回旋支近段及远段", "LCX-proximal=11 LCX-distal=13"),
        ("回旋支近段、中段", "LCX-proximal=11 LCX-mid"),
        ("回旋支中段", "LCX-mid"),
        ("LCX远端", "LCX-distal=13"),
        ("回旋支开口", "LCX-ostial=11"),
        ("右冠中远段", "RCA-mid=2 RCA-distal=3"),
        ("rca远段", "RCA-distal=3"),
        ("RCA mid", "RCA-mid=2"),
        ("右冠 中段", "RCA-mid=2"),
        ("右冠", "RCA"),
        ("右冠状动脉近段", "RCA-proximal=1"),
        // Aliases that imply a position.
        ("右冠状动脉开口", "RCA-ostial=1"),
        ("右冠口", "RCA-ostial=1"),
        ("右冠口至近段", "RCA-ostial=1 RCA-proximal=1"),
        ("左冠口", "LM-ostial=5"),
        ("左冠开口", "LM-ostial=5"),
        ("左冠状动脉开口", "LM-ostial=5"),
        ("左主干开口", "LM-ostial=5"),
        // Left main: ostial, body and distal; other positions fall back to the vessel.
        ("左主干末端", "LM-distal=5"),
        ("左主干", "LM=5"),
        ("LM", "LM=5"),
        ("左冠状动脉主干", "LM=5"),
        ("左主干体部", "LM-body=5"),
        ("左主干中段", "LM=5"),
        // Branches.
        ("第一对角支", "D1=9"),
        ("D1开口", "D1-ostial=9"),
        ("第二对角支近段", "D2-proximal=10"),
        ("对角支", "D"),
        ("第三对角支", "D3"),
        ("钝缘支", "OM"),
        ("OM1", "OM1=12a"),
        ("第二钝缘支", "OM2=12b"),
        ("第三钝缘支近段", "OM3-proximal"),
        ("左室后支", "PLV=16"),
        ("左心室后支", "PLV=16"),
        ("后侧支", "PLV=16"),
        ("后降支", "PDA=4"),
        ("pda远段", "PDA-distal=4"),
        ("中间支", "RI=12"),
        ("锐缘支", "AM"),
        // A parent named right before its branch only says whose branch it is.
        ("右冠状动脉后降支近段", "PDA-proximal=4"),
        ("回旋支钝缘支", "OM"),
        // Several vessels: each with its own positions, in text order.
        ("右冠远段-左室后支", "RCA-distal=3 PLV=16"),
        ("右冠远段及左室后支", "RCA-distal=3 PLV=16"),
        ("左主干-前降支开口", "LM=5 LAD-ostial=6"),
        ("左主干末端至前降支中段", "LM-distal=5 LAD-mid=7"),
        ("前降支,回旋支近段", "LAD LCX-proximal=11"),
        ("前降支发出第一对角支后", "LAD D1=9"),
        ("右冠远段及右冠", "RCA-distal=3"),
        ("前降支中段及前降支远段", "LAD-mid=7 LAD-distal=8"),
        // Grafts.
        ("大隐静脉桥吻合口", "SVG-anastomosis"),
        ("左乳内动脉桥远段", "LIMA-distal"),
        ("桡动脉桥", "RAG"),
        // Not coronary segments.
        ("桡动脉", ""),
        ("右侧桡动脉", ""),
        ("左桡动脉", ""),
        ("股动脉", ""),
        ("右股动脉", ""),
        ("肱动脉", ""),
        ("主动脉", ""),
        ("左心室", ""),
        ("冠状动脉", ""),
        ("左冠状动脉", ""),
        ("左冠", ""),
        ("右冠窦", ""),
        ("中远段病变", ""),
        ("支架内", ""),
        ("", ""),
        // Latin aliases are whole words.
        ("ladder", ""),
        ("from", ""),
        ("d10", ""),
        ("pcx", ""),
    ];

    #[test]
    fn texts_link_to_their_segments() {
        let table = SegmentTable::default_table();
        let mut wrong = Vec::new();
        for (raw, want) in CASES {
            let got = show(table.link(&normalize(raw)));
            if got != *want {
                wrong.push(format!("{raw:?}: got {got:?}, want {want:?}"));
            }
        }
        assert!(CASES.len() >= 50);
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn links_are_concepts_of_the_table() {
        let table = SegmentTable::default_table();
        let all = table.all_segments();
        let ids: std::collections::HashSet<String> = all.iter().map(Segment::id).collect();
        assert_eq!(ids.len(), all.len(), "segment ids are unique");
        for (raw, _) in CASES {
            for s in table
                .link(&normalize(raw))
                .map(|l| l.segments)
                .unwrap_or_default()
            {
                assert!(all.contains(&s), "{raw:?} links {s:?}, not in all_segments");
            }
        }
        let lad_mid = Segment {
            vessel: "LAD".into(),
            position: Some("mid".into()),
            number: Some("7".into()),
        };
        assert!(all.contains(&lad_mid));
        assert_eq!(lad_mid.id(), "LAD-mid");
    }

    #[test]
    fn odd_input_does_not_panic() {
        let table = SegmentTable::default_table();
        let mut texts: Vec<String> = vec![
            String::new(),
            " ".into(),
            "-".into(),
            "---~~~至至、、".into(),
            "，。；：！？()[]{}".into(),
            "前降支-".into(),
            "前降支近-".into(),
            "前降支至至至".into(),
            "近中远".into(),
            "lad lad lad".into(),
            "\u{0}\u{1f}\u{feff}".into(),
            "🫀前降支🫀近段".into(),
            "前".repeat(10_000),
            "前降支近-".repeat(2_000),
        ];
        // Deterministic garbage from the table's own characters and some others.
        let alphabet: Vec<char> = "前降支近中远段开口-至及右冠左主干对角钝缘lad d1om 桡动脉,。"
            .chars()
            .collect();
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2_000 {
            let mut s = String::new();
            for _ in 0..(seed % 24) {
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                s.push(alphabet[(seed >> 33) as usize % alphabet.len()]);
            }
            texts.push(s);
        }
        let all = table.all_segments();
        for t in &texts {
            let n = normalize(t);
            if let Some(link) = table.link(&n) {
                assert!(!link.segments.is_empty(), "{n:?}");
                assert!(link.segments.iter().all(|s| all.contains(s)), "{n:?}");
            }
            // Every char-boundary prefix, too.
            for (i, _) in n.char_indices().take(40) {
                let _ = table.link(&n[..i]);
            }
        }
    }

    /// A small table for the validation tests, independent of the shipped one.
    const MINI: &str = r#"
[joiners]
range = ["-"]
list = ["及"]

[[position]]
code = "proximal"
en = "proximal"
zh = "近段"
aliases = ["近段", "近"]

[[position]]
code = "mid"
en = "mid"
zh = "中段"
aliases = ["中段", "中"]

[[vessel]]
code = "LAD"
en = "left anterior descending artery"
zh = "前降支"
aliases = ["前降支", "lad"]
segments = { proximal = "6", mid = "7" }

[[vessel]]
code = "LCX"
en = "left circumflex artery"
zh = "回旋支"
aliases = ["回旋支"]
segments = { proximal = "11", mid = "" }

[[implied]]
text = "前降支口"
vessel = "LAD"
position = "proximal"
"#;

    fn parse_err(text: &str) -> String {
        match SegmentTable::parse(text) {
            Ok(_) => panic!("the table should be rejected"),
            Err(e) => e,
        }
    }

    #[test]
    fn default_table_parses() {
        let table = SegmentTable::parse(SEGMENTS_TOML).expect("ontology/segments.toml parses");
        assert!(table.vessels().iter().any(|v| v.code == "LAD"));
        assert!(table.positions().iter().any(|p| p.code == "proximal"));
        let mini = SegmentTable::parse(MINI).expect("MINI parses");
        assert_eq!(show(mini.link("lad近-中段")), "LAD-proximal=6 LAD-mid=7");
    }

    #[test]
    fn an_alias_of_two_vessels_is_an_error() {
        let e =
            parse_err(&MINI.replace(r#"aliases = ["回旋支"]"#, r#"aliases = ["回旋支", "lad"]"#));
        assert!(
            e.contains("\"lad\"") && e.contains("LAD") && e.contains("LCX"),
            "{e}"
        );
    }

    #[test]
    fn an_unknown_position_in_segments_is_an_error() {
        let e = parse_err(&MINI.replace(r#"mid = "" }"#, r#"mid = "", distal = "13" }"#));
        assert!(e.contains("distal") && e.contains("LCX"), "{e}");
    }

    #[test]
    fn other_invalid_tables_are_errors() {
        // Not normalised: the linker only ever sees lower-case Latin.
        let e = parse_err(&MINI.replace(r#""前降支", "lad""#, r#""前降支", "LAD""#));
        assert!(e.contains("not normalised"), "{e}");
        // Empty alias.
        assert!(
            parse_err(&MINI.replace(r#""前降支", "lad""#, r#""前降支", """#)).contains("empty")
        );
        // Duplicate vessel code.
        let e = parse_err(&MINI.replace(r#"code = "LCX""#, r#"code = "LAD""#));
        assert!(e.contains("defined twice"), "{e}");
        // Implied entry naming an unknown vessel, or a position the vessel lacks.
        assert!(parse_err(&MINI.replace(r#"vessel = "LAD""#, r#"vessel = "RCA""#)).contains("RCA"));
        let e = parse_err(&MINI.replace(r#"position = "proximal""#, r#"position = "distal""#));
        assert!(e.contains("distal"), "{e}");
        // A position alias that is also a vessel alias.
        let e = parse_err(&MINI.replace(
            r#"aliases = ["中段", "中"]"#,
            r#"aliases = ["中段", "中", "lad"]"#,
        ));
        assert!(e.contains("listed twice"), "{e}");
        // A misspelt key.
        let e = parse_err(&MINI.replace(
            "segments = { proximal = \"6\"",
            "segment = { proximal = \"6\"",
        ));
        assert!(e.contains("unknown field"), "{e}");
        // A code that would break an IRI.
        assert!(parse_err(&MINI.replace(r#"code = "LCX""#, r#"code = "L CX""#)).contains("L CX"));
        // Bad segment number.
        assert!(
            parse_err(&MINI.replace(r#"proximal = "11""#, r#"proximal = "1 1""#)).contains("1 1")
        );
    }

    #[test]
    fn content_hash_follows_content_not_comments() {
        let base = SegmentTable::parse(MINI)
            .expect("MINI parses")
            .content_hash();
        assert_eq!(base.len(), 64);
        let commented = format!("# a clinician's note\n{MINI}\n# another\n");
        assert_eq!(
            SegmentTable::parse(&commented)
                .expect("parses")
                .content_hash(),
            base
        );
        let edited = MINI.replace(r#"aliases = ["回旋支"]"#, r#"aliases = ["回旋支", "lcx"]"#);
        assert_ne!(
            SegmentTable::parse(&edited).expect("parses").content_hash(),
            base
        );
        let renumbered = MINI.replace(r#"mid = "7""#, r#"mid = "8""#);
        assert_ne!(
            SegmentTable::parse(&renumbered)
                .expect("parses")
                .content_hash(),
            base
        );
        assert_eq!(
            SegmentTable::default_table().content_hash(),
            SegmentTable::default_table().content_hash()
        );
    }
}

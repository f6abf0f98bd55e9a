//! How much of an annotated corpus the graph's value parser and segment linker understand
//! (`cbrrel corpus values FILE`; BENCHMARKS.md reports it on the shared coronary corpus).
//!
//! Over the gold entity mentions: the share of stenosis findings (狭窄 or 闭塞 in the text) with
//! a parsed percent, of TIMI mentions with a grade, of device mentions carrying a size (mm or
//! Φ) with a parsed diameter, of dose mentions (a number in a drug-and-dose text that is not
//! only a concentration) with a parsed dose, and of body-part mentions linked to a coronary vessel or segment. A hospital runs it on
//! its own annotated reports to see what its phrasing leaves as text before trusting a
//! threshold query.

use std::collections::BTreeMap;

use serde::Serialize;

use super::normalize::normalize;
use super::segments::SegmentTable;
use super::values::{parse_values, ValueKind};
use crate::corpus::Record;

/// Mentions that call for a value, and those that got one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Share {
    pub mentions: usize,
    pub parsed: usize,
}

impl Share {
    fn add(&mut self, parsed: bool) {
        self.mentions += 1;
        self.parsed += usize::from(parsed);
    }

    pub fn percent(&self) -> f64 {
        100.0 * self.parsed as f64 / self.mentions.max(1) as f64
    }
}

/// The coverage of a corpus, per kind of value.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Coverage {
    pub stenosis: Share,
    pub timi: Share,
    pub device_size: Share,
    pub dose: Share,
    /// Body parts linked to a vessel.
    pub body_part_vessel: Share,
    /// Body parts linked to a segment with a position or a SYNTAX number.
    pub body_part_segment: Share,
    /// The most frequent normalised texts left unparsed, per kind (for the person running it
    /// on their own data; never written into the repository).
    pub unparsed: BTreeMap<String, Vec<(String, usize)>>,
}

impl Coverage {
    /// The text form of `cbrrel corpus values` for the corpus read from `source`: one line per
    /// share, then the most frequent unparsed texts of each kind.
    pub fn to_text(&self, source: &std::path::Path) -> String {
        let line = |name: &str, s: &Share| {
            format!(
                "{name:<22} {:>6} of {:>6}  {:5.1} %\n",
                s.parsed,
                s.mentions,
                s.percent()
            )
        };
        let mut out = format!(
            "{}: values parsed / mentions that call for one\n",
            source.display()
        );
        out.push_str(&line("stenosis percent", &self.stenosis));
        out.push_str(&line("TIMI grade", &self.timi));
        out.push_str(&line("device diameter", &self.device_size));
        out.push_str(&line("dose", &self.dose));
        out.push_str(&line("body part → vessel", &self.body_part_vessel));
        out.push_str(&line("body part → segment", &self.body_part_segment));
        for (kind, texts) in self.unparsed.iter().filter(|(_, t)| !t.is_empty()) {
            out.push_str(&format!("most frequent unparsed, {kind}:"));
            for (t, n) in texts {
                out.push_str(&format!(" {t} ({n})"));
            }
            out.push('\n');
        }
        out
    }
}

/// Coverage over the gold entities of `records`.
pub fn coverage(records: &[Record], table: &SegmentTable, top: usize) -> Coverage {
    let mut c = Coverage::default();
    let mut misses: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    for r in records {
        for e in &r.entities {
            let text = normalize(&e.text);
            let v = parse_values(&e.label, &text);
            let mut miss = |kind: &'static str, ok: bool, share: &mut Share| {
                share.add(ok);
                if !ok {
                    *misses
                        .entry(kind)
                        .or_default()
                        .entry(text.clone())
                        .or_default() += 1;
                }
            };
            match e.label.as_str() {
                "Sy" => {
                    if text.contains("狭窄") || text.contains("闭塞") {
                        miss("stenosis", v.stenosis.is_some(), &mut c.stenosis);
                    }
                    if text.contains("timi") {
                        miss("timi", v.timi.is_some(), &mut c.timi);
                    }
                }
                "Mc"
                    if (text.contains("mm") || text.contains('Φ') || text.contains('φ')) => {
                        miss("device_size", v.diameter_mm.is_some(), &mut c.device_size);
                    }
                "Do"
                    // A dose is called for when the text has a number that is not only a
                    // concentration (2%利多卡因 names a drug, it doses nothing).
                    if (v.dose.is_some() || v.unparsed.contains(&ValueKind::Dose)) => {
                        miss("dose", v.dose.is_some(), &mut c.dose);
                    }
                "Bp" => {
                    let link = table.link(&text);
                    miss("body_part", link.is_some(), &mut c.body_part_vessel);
                    c.body_part_segment.add(link.is_some_and(|l| {
                        l.segments
                            .iter()
                            .any(|s| s.position.is_some() || s.number.is_some())
                    }));
                }
                _ => {}
            }
        }
    }
    for (kind, m) in misses {
        let mut v: Vec<(String, usize)> = m.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(top);
        c.unparsed.insert(kind.to_owned(), v);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::Entity;

    fn rec(entities: &[(&str, &str)]) -> Record {
        Record {
            id: "1".into(),
            text: String::new(),
            entities: entities
                .iter()
                .enumerate()
                .map(|(i, (label, text))| Entity {
                    id: i.to_string(),
                    label: (*label).into(),
                    start: 0,
                    end: 1,
                    text: (*text).into(),
                    confidence: None,
                })
                .collect(),
            relations: vec![],
            line: 1,
            raw: String::new(),
        }
    }

    #[test]
    fn shares_count_what_calls_for_a_value_and_what_parsed() {
        let r = rec(&[
            ("Sy", "狭窄90%"),
            ("Sy", "轻度狭窄"),
            ("Sy", "钙化"),
            ("Bp", "前降支近段"),
            ("Bp", "桡动脉"),
            ("Do", "肝素2000U"),
            ("Mc", "Sion导丝"),
        ]);
        let c = coverage(&[r], &SegmentTable::default_table(), 5);
        assert_eq!((c.stenosis.mentions, c.stenosis.parsed), (2, 1));
        assert_eq!(
            (c.body_part_vessel.mentions, c.body_part_vessel.parsed),
            (2, 1)
        );
        assert_eq!((c.dose.mentions, c.dose.parsed), (1, 1));
        assert_eq!(c.device_size.mentions, 0);
        assert_eq!(c.unparsed["stenosis"], vec![("轻度狭窄".to_owned(), 1)]);
    }
}

//! `cbrrel corpus split`: report-level train/dev/test splits.
//!
//! The coronary reports are templated: many sentences, and some whole texts, repeat across
//! reports. A sentence-level split leaks test sentences into training, so we split whole
//! records, and records with identical text form one group that always lands on one side.
//! Groups are ordered by the SHA-256 of their text (so the result does not depend on the order
//! of the input file), shuffled with a seeded ChaCha8 RNG, and each goes to the split furthest
//! below its target share. Same file contents + same seed + same ratios → same split.

use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::record::Record;
use super::CorpusError;

/// Parsed `--ratios` (`8:1:1` → train/dev/test, `8:2` → train/test).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ratios {
    pub names: Vec<&'static str>,
    pub weights: Vec<u32>,
}

impl std::str::FromStr for Ratios {
    type Err = CorpusError;
    fn from_str(s: &str) -> Result<Ratios, CorpusError> {
        let bad = || {
            CorpusError::Invalid(format!(
                "ratios `{s}`: expected two or three positive integers like 8:1:1"
            ))
        };
        let weights: Vec<u32> = s
            .split(':')
            .map(|p| p.trim().parse::<u32>().map_err(|_| bad()))
            .collect::<Result<_, _>>()?;
        let names = match weights.len() {
            2 => vec!["train", "test"],
            3 => vec!["train", "dev", "test"],
            _ => return Err(bad()),
        };
        if weights.contains(&0) {
            return Err(bad());
        }
        Ok(Ratios { names, weights })
    }
}

/// Which records go where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Split {
    pub seed: u64,
    pub ratios: Ratios,
    /// Groups of identical texts.
    pub groups: usize,
    /// Split name → record ids, in input order.
    pub ids: BTreeMap<String, Vec<String>>,
    /// Split name → record indices into the input, in input order.
    #[serde(skip)]
    pub indices: Vec<Vec<usize>>,
}

impl Split {
    /// Split name → number of records (the manifest's and the command's `counts`).
    pub fn counts(&self) -> serde_json::Map<String, serde_json::Value> {
        self.ratios
            .names
            .iter()
            .zip(&self.indices)
            .map(|(n, v)| (n.to_string(), v.len().into()))
            .collect()
    }
}

/// Assign records to parts of the given weights by report, identical texts together: returns
/// the number of groups of identical text and each part's record indices, in input order.
fn assign(records: &[Record], weights: &[u32], seed: u64) -> (usize, Vec<Vec<usize>>) {
    let all: Vec<usize> = (0..records.len()).collect();
    assign_among(records, &all, weights, seed)
}

/// [`assign`] over the records at `among` only (indices into `records`).
fn assign_among(
    records: &[Record],
    among: &[usize],
    weights: &[u32],
    seed: u64,
) -> (usize, Vec<Vec<usize>>) {
    let mut groups: BTreeMap<[u8; 32], Vec<usize>> = BTreeMap::new();
    for &i in among {
        let key: [u8; 32] = Sha256::digest(records[i].text.trim().as_bytes()).into();
        groups.entry(key).or_default().push(i);
    }
    let mut order: Vec<Vec<usize>> = groups.into_values().collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    order.shuffle(&mut rng);
    let total_weight: u32 = weights.iter().sum();
    let mut indices: Vec<Vec<usize>> = vec![Vec::new(); weights.len()];
    let mut assigned = 0usize;
    for group in &order {
        let after = (assigned + group.len()) as f64;
        // Deficit of each part once this group is placed somewhere; first part wins ties.
        let best = (0..indices.len())
            .max_by(|&a, &b| {
                let d = |k: usize| {
                    after * weights[k] as f64 / total_weight as f64 - indices[k].len() as f64
                };
                d(a).total_cmp(&d(b)).then(b.cmp(&a))
            })
            .expect("at least one part");
        indices[best].extend(group);
        assigned += group.len();
    }
    for v in &mut indices {
        v.sort_unstable();
    }
    (order.len(), indices)
}

/// `k` folds of equal size for cross-validation, by report as [`split_by_report`] splits
/// (identical texts in one fold; same records + seed → same folds). Returns the number of
/// groups of identical text and each fold's record indices, in input order.
pub fn folds(records: &[Record], k: usize, seed: u64) -> (usize, Vec<Vec<usize>>) {
    assign(records, &vec![1; k.max(1)], seed)
}

/// The records at `among` (indices into `records`) in parts of the given weights, by report
/// and identical texts together: a cross-validation fold's train and dev sets out of the
/// reports it does not test on.
pub fn parts_among(
    records: &[Record],
    among: &[usize],
    weights: &[u32],
    seed: u64,
) -> Vec<Vec<usize>> {
    assign_among(records, among, weights, seed).1
}

/// Split records by report, keeping identical texts together.
pub fn split_by_report(records: &[Record], ratios: &Ratios, seed: u64) -> Split {
    let (groups, indices) = assign(records, &ratios.weights, seed);
    let ids = ratios
        .names
        .iter()
        .zip(&indices)
        .map(|(n, idx)| {
            (
                n.to_string(),
                idx.iter().map(|&i| records[i].id.clone()).collect(),
            )
        })
        .collect();
    Split {
        seed,
        ratios: ratios.clone(),
        groups,
        ids,
        indices,
    }
}

/// Write the records at `idx` to `path` as their source lines, verbatim and in that order,
/// atomically: a split or a fold is the input file's own lines, nothing re-serialised.
pub fn write_records_raw(
    records: &[Record],
    idx: &[usize],
    path: &std::path::Path,
) -> Result<(), crate::atomic::WriteError> {
    let mut buf = String::new();
    for &i in idx {
        buf.push_str(&records[i].raw);
        buf.push('\n');
    }
    crate::atomic::write(path, buf.as_bytes())
}

/// A split written to disk: the split, where, and how many rejected records were left out.
/// Serialises as `corpus split --format json` prints it; displays as its one summary line.
pub struct WrittenSplit {
    pub split: Split,
    pub rejected: usize,
    /// Records split (the accepted ones).
    pub records: usize,
    pub out: std::path::PathBuf,
}

impl Serialize for WrittenSplit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde_json::json!({
            "out": self.out.display().to_string(),
            "counts": self.split.counts(),
            "rejected": self.rejected,
            "groups": self.split.groups,
        })
        .serialize(s)
    }
}

impl std::fmt::Display for WrittenSplit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = (self.split.ratios.names.iter())
            .zip(&self.split.indices)
            .map(|(n, v)| format!("{n} {}", v.len()))
            .collect();
        writeln!(
            f,
            "{} records ({} groups of identical text) → {} in {}; {} rejected records left out (listed in split.json)",
            self.records,
            self.split.groups,
            parts.join(", "),
            self.out.display(),
            self.rejected
        )
    }
}

/// `cbrrel corpus split`: split `corpus` by report and write one file per split (each record's
/// raw line, in input order, with the input's extension) and `split.json`, the manifest (source,
/// seed, ratios, counts, the rejected records left out, the ids per split), all atomically.
pub fn write_split(
    corpus: &super::Corpus,
    ratios: &Ratios,
    seed: u64,
    out: &std::path::Path,
) -> Result<WrittenSplit, CorpusError> {
    if corpus.records.is_empty() {
        return Err(CorpusError::Invalid(format!(
            "{}: no records to split",
            corpus.path.display()
        )));
    }
    let split = split_by_report(&corpus.records, ratios, seed);
    let ext = corpus
        .path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("jsonl");
    for (name, idx) in ratios.names.iter().zip(&split.indices) {
        write_records_raw(&corpus.records, idx, &out.join(format!("{name}.{ext}")))?;
    }
    let rejected: Vec<_> = corpus
        .problems
        .iter()
        .filter(|p| p.action == super::Action::RecordRejected)
        .collect();
    let counts = split.counts();
    let manifest = serde_json::json!({
        "source": corpus.path.display().to_string(),
        "format": corpus.format,
        "by": "report",
        "seed": seed,
        "ratios": ratios.weights,
        "groups_of_identical_text": split.groups,
        "counts": counts,
        "rejected": rejected,
        "ids": split.ids,
    });
    let text = serde_json::to_string_pretty(&manifest).expect("the manifest serialises");
    crate::atomic::write(&out.join("split.json"), text.as_bytes())?;
    Ok(WrittenSplit {
        rejected: rejected.len(),
        split,
        records: corpus.records.len(),
        out: out.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: usize, text: &str) -> Record {
        Record {
            id: id.to_string(),
            text: text.into(),
            entities: vec![],
            relations: vec![],
            line: id,
            raw: String::new(),
        }
    }

    #[test]
    fn deterministic_proportional_and_keeps_duplicates_together() {
        let mut records: Vec<Record> = (0..200).map(|i| rec(i, &format!("报告{i}"))).collect();
        for i in 200..220 {
            records.push(rec(i, "相同的模板报告"));
        }
        let ratios: Ratios = "8:1:1".parse().unwrap();
        let a = split_by_report(&records, &ratios, 7);
        let b = split_by_report(&records, &ratios, 7);
        assert_eq!(a, b);
        assert_eq!(a.groups, 201);
        let sizes: Vec<usize> = a.indices.iter().map(Vec::len).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 220);
        let same: Vec<usize> = a
            .indices
            .iter()
            .map(|v| v.iter().filter(|&&i| i >= 200).count())
            .collect();
        assert_eq!(
            same.iter().filter(|&&n| n > 0).count(),
            1,
            "identical texts on one side: {same:?}"
        );
        assert!(
            (sizes[1] as i64 - 22).abs() <= 20 && sizes[0] >= 150,
            "{sizes:?}"
        );
        let c = split_by_report(&records, &ratios, 8);
        assert_ne!(a.indices, c.indices);
        // Input order does not matter.
        let mut rev = records.clone();
        rev.reverse();
        let d = split_by_report(&rev, &ratios, 7);
        assert_eq!(
            a.ids
                .iter()
                .map(|(k, v)| (k.clone(), {
                    let mut v = v.clone();
                    v.sort();
                    v
                }))
                .collect::<Vec<_>>(),
            d.ids
                .iter()
                .map(|(k, v)| (k.clone(), {
                    let mut v = v.clone();
                    v.sort();
                    v
                }))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn ratio_parsing() {
        assert_eq!("8:2".parse::<Ratios>().unwrap().names, ["train", "test"]);
        assert!("8".parse::<Ratios>().is_err());
        assert!("8:0:1".parse::<Ratios>().is_err());
        assert!("a:b".parse::<Ratios>().is_err());
    }
}

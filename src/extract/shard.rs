//! Sharding the reports of a dump for extraction.
//!
//! A shard is a run of consecutive reports (in ingest order) holding at least `shard_size`
//! sentences (the last one may hold fewer); a report is never split across shards, so a shard's
//! output is complete for every report in it. The plan is a pure function of the reports, their
//! content hashes, the model id, the precision it predicts in and the shard size, so every
//! worker of a job array computes the same plan, and a shard's file name carries a fingerprint
//! of exactly what it holds: a file with the right name *is* the finished shard (resume = skip
//! it).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::infer::Precision;

/// One report to extract from.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardInput<'a> {
    pub report_id: &'a str,
    pub content_hash: &'a str,
    pub sentences: usize,
}

/// One planned shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    /// Hex SHA-256 over the model id and every (report id, content hash) of the shard.
    pub fingerprint: String,
    /// Range of positions in the input report list.
    pub first: usize,
    pub end: usize,
    pub sentences: usize,
}

impl Shard {
    /// `shard-00003-1a2b3c4d5e6f.parquet`
    pub fn file_name(&self) -> String {
        format!(
            "shard-{:05}-{}.parquet",
            self.index,
            &self.fingerprint[..12]
        )
    }

    /// Whether worker `worker` of `workers` owns this shard (round robin: shard sizes are
    /// similar, so each worker gets an equal share of sentences).
    pub fn owned_by(&self, worker: usize, workers: usize) -> bool {
        self.index % workers == worker
    }
}

/// The whole plan of one extraction, as written to `plan.json` in the extract directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardPlan {
    pub model_id: String,
    /// What the model predicted in (precision.rs): a shard predicted in another precision
    /// is not this plan's (its fingerprint differs), so a resume never mixes the two. Plans
    /// written before the setting existed were f32.
    #[serde(default)]
    pub precision: Precision,
    pub shard_size: usize,
    pub reports: usize,
    pub sentences: usize,
    pub shards: Vec<Shard>,
}

/// Cut `inputs` into shards of at least `shard_size` sentences.
/// `worker` of `workers` (a job array's index and size) names a worker that exists.
pub fn check_worker(worker: usize, workers: usize) -> Result<(), super::ExtractError> {
    if workers == 0 || worker >= workers {
        return Err(super::ExtractError::Invalid(format!(
            "--shard-index {worker} must be below --shard-count {workers}"
        )));
    }
    Ok(())
}

pub fn plan_shards(
    inputs: &[ShardInput<'_>],
    shard_size: usize,
    model_id: &str,
    precision: Precision,
) -> ShardPlan {
    let shard_size = shard_size.max(1);
    let mut shards = Vec::new();
    let mut first = 0;
    let mut sentences = 0;
    let close = |first: usize, end: usize, sentences: usize, shards: &mut Vec<Shard>| {
        let mut h = Sha256::new();
        h.update(model_id.as_bytes());
        // f32 adds nothing: fingerprints of work directories from before the setting hold.
        if precision != Precision::F32 {
            h.update(b"\0precision=");
            h.update(precision.name().as_bytes());
        }
        for r in &inputs[first..end] {
            h.update([0u8]);
            h.update(r.report_id.as_bytes());
            h.update([1u8]);
            h.update(r.content_hash.as_bytes());
        }
        shards.push(Shard {
            index: shards.len(),
            fingerprint: hex::encode(h.finalize()),
            first,
            end,
            sentences,
        });
    };
    for (i, r) in inputs.iter().enumerate() {
        sentences += r.sentences;
        if sentences >= shard_size {
            close(first, i + 1, sentences, &mut shards);
            first = i + 1;
            sentences = 0;
        }
    }
    if first < inputs.len() {
        close(first, inputs.len(), sentences, &mut shards);
    }
    ShardPlan {
        model_id: model_id.to_owned(),
        precision,
        shard_size,
        reports: inputs.len(),
        sentences: inputs.iter().map(|r| r.sentences).sum(),
        shards,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(sentences: &[usize]) -> Vec<(String, String, usize)> {
        sentences
            .iter()
            .enumerate()
            .map(|(i, &s)| (format!("r{i}"), format!("h{i}"), s))
            .collect()
    }

    fn plan(v: &[(String, String, usize)], size: usize) -> ShardPlan {
        plan_of_model(v, size, "m1", Precision::F32)
    }

    fn plan_of_model(
        v: &[(String, String, usize)],
        size: usize,
        model: &str,
        precision: Precision,
    ) -> ShardPlan {
        let ins: Vec<ShardInput> = v
            .iter()
            .map(|(id, h, s)| ShardInput {
                report_id: id,
                content_hash: h,
                sentences: *s,
            })
            .collect();
        plan_shards(&ins, size, model, precision)
    }

    #[test]
    fn shards_cover_every_report_once_and_never_split_one() {
        let v = inputs(&[3, 4, 1, 7, 2, 2, 2]);
        let p = plan(&v, 5);
        let ranges: Vec<(usize, usize, usize)> = p
            .shards
            .iter()
            .map(|s| (s.first, s.end, s.sentences))
            .collect();
        assert_eq!(ranges, vec![(0, 2, 7), (2, 4, 8), (4, 7, 6)]);
        assert_eq!(p.sentences, 21);
        assert!(plan(&[], 5).shards.is_empty());
        // Workers split shards round robin and together own each exactly once.
        for s in &p.shards {
            assert_eq!((0..2).filter(|&w| s.owned_by(w, 2)).count(), 1);
        }
    }

    #[test]
    fn a_changed_report_changes_only_its_shards_fingerprint() {
        let v = inputs(&[3, 4, 1, 7, 2, 2, 2]);
        let mut w = v.clone();
        w[3].1 = "changed".into();
        let (a, b) = (plan(&v, 5), plan(&w, 5));
        assert_eq!(a.shards[0].file_name(), b.shards[0].file_name());
        assert_ne!(a.shards[1].file_name(), b.shards[1].file_name());
        assert_eq!(a.shards[2].file_name(), b.shards[2].file_name());
        let other_model = plan_of_model(&v, 5, "m2", Precision::F32);
        assert_ne!(a.shards[0].fingerprint, other_model.shards[0].fingerprint);
        // The same model predicting in bf16 makes other shards; f32's are those of a plan
        // written before the setting (pinned: work directories on disk hold them).
        let bf16 = plan_of_model(&v, 5, "m1", Precision::Bf16);
        assert_ne!(a.shards[0].fingerprint, bf16.shards[0].fingerprint);
        let mut h = Sha256::new();
        h.update(b"m1");
        for (id, hash, _) in &v[..2] {
            h.update([0u8]);
            h.update(id.as_bytes());
            h.update([1u8]);
            h.update(hash.as_bytes());
        }
        assert_eq!(a.shards[0].fingerprint, hex::encode(h.finalize()));
    }
}

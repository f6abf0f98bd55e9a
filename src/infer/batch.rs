//! Length-bucketed, dynamically padded batches of labelled segments. Segments are sorted by
//! length (ties in a seeded random order) and cut into batches, whose order is then shuffled:
//! a batch pads to its own longest segment, which is short when its neighbours are alike.

use rand::seq::SliceRandom;
use tch::{Device, Kind, Tensor};

use crate::model::SubjectSpans;
use crate::text::SegmentExample;

/// Tensors of one batch.
#[derive(Debug)]
pub struct Batch {
    /// Indices of the batch's examples in the slice it was made from.
    pub examples: Vec<usize>,
    /// [B, L] int64.
    pub input_ids: Tensor,
    /// [B, L] int64, 1 = token.
    pub mask: Tensor,
    /// [B, L] float targets of the subject tagger.
    pub subject_start: Tensor,
    pub subject_end: Tensor,
    /// Every gold subject of the batch.
    pub subjects: SubjectSpans,
    /// [N, L, R] float targets of the object taggers, one row per subject.
    pub object_start: Tensor,
    pub object_end: Tensor,
    /// [N, L] token mask of each subject's sentence.
    pub object_mask: Tensor,
    /// Real tokens in the batch.
    pub tokens: usize,
}

/// Batches of example indices, bucketed by length. `rng` `None` keeps length order (inference).
pub fn bucket_batches(
    lengths: &[usize],
    batch_size: usize,
    rng: Option<&mut rand_chacha::ChaCha8Rng>,
) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    let shuffle = rng.is_some();
    if let Some(rng) = rng {
        order.shuffle(rng);
        order.sort_by_key(|&i| lengths[i]);
        let mut batches: Vec<Vec<usize>> = order
            .chunks(batch_size.max(1))
            .map(<[usize]>::to_vec)
            .collect();
        batches.shuffle(rng);
        return batches;
    }
    debug_assert!(!shuffle);
    order.sort_by_key(|&i| lengths[i]);
    order
        .chunks(batch_size.max(1))
        .map(<[usize]>::to_vec)
        .collect()
}

impl Batch {
    /// The batch's tensors named `b{index}.…`, the layout `pipeline/torch_reference.py` reads
    /// (issue 11 §4: the PyTorch reference sees the very tensors the Rust model sees):
    /// `input_ids`, `mask`, the targets `subject_start`, `subject_end`, `object_start`,
    /// `object_end`, `object_mask`, and the gold subjects as `subjects_batch`,
    /// `subjects_start`, `subjects_end`. On the CPU, contiguous.
    pub fn named_tensors(&self, index: usize) -> Vec<(String, Tensor)> {
        let cpu = |t: &Tensor| t.to_device(Device::Cpu).contiguous();
        [
            ("input_ids", &self.input_ids),
            ("mask", &self.mask),
            ("subject_start", &self.subject_start),
            ("subject_end", &self.subject_end),
            ("object_start", &self.object_start),
            ("object_end", &self.object_end),
            ("object_mask", &self.object_mask),
            ("subjects_batch", &self.subjects.batch),
            ("subjects_start", &self.subjects.start),
            ("subjects_end", &self.subjects.end),
        ]
        .into_iter()
        .map(|(name, t)| (format!("b{index}.{name}"), cpu(t)))
        .collect()
    }
}

/// Write `batches` to one safetensors file (atomically), batch i under `b{i}.` names.
pub fn write_batches(batches: &[Batch], path: &std::path::Path) -> std::io::Result<()> {
    let named: Vec<(String, Tensor)> = batches
        .iter()
        .enumerate()
        .flat_map(|(i, b)| b.named_tensors(i))
        .collect();
    crate::atomic::write_via_path(path, |tmp| {
        Tensor::write_safetensors(&named, tmp).map_err(|e| std::io::Error::other(e.to_string()))
    })
}

/// Pad and stack examples `idx` of `all` into tensors on `device`.
pub fn make_batch(
    all: &[SegmentExample],
    idx: &[usize],
    n_relations: usize,
    device: Device,
) -> Batch {
    let b_sz = idx.len();
    let seq_len = idx.iter().map(|&i| all[i].len()).max().unwrap_or(0);
    let mut ids = vec![0i64; b_sz * seq_len];
    let mut mask = vec![0i64; b_sz * seq_len];
    let mut s_start = vec![0f32; b_sz * seq_len];
    let mut s_end = vec![0f32; b_sz * seq_len];
    let (mut sb, mut ss, mut se) = (Vec::new(), Vec::new(), Vec::new());
    let mut o_start: Vec<f32> = Vec::new();
    let mut o_end: Vec<f32> = Vec::new();
    let mut o_mask: Vec<i64> = Vec::new();
    let mut tokens = 0;
    for (row, &i) in idx.iter().enumerate() {
        let ex = &all[i];
        let base = row * seq_len;
        tokens += ex.len();
        for (t, &id) in ex.input_ids.iter().enumerate() {
            ids[base + t] = id;
            mask[base + t] = 1;
        }
        let (st, en) = ex.subject_targets();
        s_start[base..base + ex.len()].copy_from_slice(&st);
        s_end[base..base + ex.len()].copy_from_slice(&en);
        for (k, subject) in ex.subjects.iter().enumerate() {
            sb.push(row as i64);
            ss.push(subject.start as i64);
            se.push(subject.end as i64);
            // [L, R] row-major: the object_targets layout is [R, L]; transpose while padding.
            let (os, oe) = ex.object_targets(k, n_relations);
            let offset = o_start.len();
            o_start.resize(offset + seq_len * n_relations, 0.0);
            o_end.resize(offset + seq_len * n_relations, 0.0);
            for r in 0..n_relations {
                for t in 0..ex.len() {
                    o_start[offset + t * n_relations + r] = os[r * ex.len() + t];
                    o_end[offset + t * n_relations + r] = oe[r * ex.len() + t];
                }
            }
            o_mask.extend((0..seq_len).map(|t| (t < ex.len()) as i64));
        }
    }
    let n = sb.len() as i64;
    let (b, l, r) = (b_sz as i64, seq_len as i64, n_relations as i64);
    let t_i64 = |v: &[i64], shape: &[i64]| Tensor::from_slice(v).view(shape).to_device(device);
    let t_f32 = |v: &[f32], shape: &[i64]| Tensor::from_slice(v).view(shape).to_device(device);
    Batch {
        examples: idx.to_vec(),
        input_ids: t_i64(&ids, &[b, l]),
        mask: t_i64(&mask, &[b, l]),
        subject_start: t_f32(&s_start, &[b, l]),
        subject_end: t_f32(&s_end, &[b, l]),
        subjects: SubjectSpans::from_vecs(&sb, &ss, &se, device),
        object_start: t_f32(&o_start, &[n, l, r]),
        object_end: t_f32(&o_end, &[n, l, r]),
        object_mask: Tensor::from_slice(&o_mask)
            .view([n, l])
            .to_kind(Kind::Int64)
            .to_device(device),
        tokens,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn buckets_cover_every_example_once_and_group_lengths() {
        let lengths: Vec<usize> = (0..50).map(|i| (i * 37) % 23 + 3).collect();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let batches = bucket_batches(&lengths, 8, Some(&mut rng));
        let mut all: Vec<usize> = batches.iter().flatten().copied().collect();
        all.sort();
        assert_eq!(all, (0..50).collect::<Vec<_>>());
        let plain = bucket_batches(&lengths, 8, None);
        for w in plain.windows(2) {
            assert!(
                w[0].iter().map(|&i| lengths[i]).max() <= w[1].iter().map(|&i| lengths[i]).min()
            );
        }
    }
}

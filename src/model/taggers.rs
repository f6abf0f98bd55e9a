//! Pointer taggers: a start and an end probability per token.
//! - Subject tagger (§3.5, eqs. 12–13): p^start_i = σ(W_start h_i + b_start), likewise p^end.
//! - Relation-specific object tagger (§3.7, eqs. 15–16): for subject k, v_sub^k is the mean of
//!   the (fused) states at its start and end tokens; it is added to every token state, and per
//!   relation r two sigmoids give the object start and end. All relations are one linear layer
//!   with 2·R outputs (STYLE.md: no copy-pasted heads).
//!
//! Both return logits; the sigmoid is applied in the loss (BCE with logits) and in decoding.

use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// Start/end logits over tokens.
#[derive(Debug)]
pub struct PointerLogits {
    /// Subject: [B, L]; object: [N, L, R].
    pub start: Tensor,
    pub end: Tensor,
}

/// The subject tagger: one linear layer H → 2.
#[derive(Debug)]
pub struct SubjectTagger {
    linear: nn::Linear,
}

impl SubjectTagger {
    pub fn new(p: nn::Path, hidden: i64) -> SubjectTagger {
        SubjectTagger {
            linear: nn::linear(p, hidden, 2, Default::default()),
        }
    }

    /// `hidden` [B, L, H] → start/end logits [B, L] (eqs. 12–13).
    pub fn forward(&self, hidden: &Tensor) -> PointerLogits {
        let logits = self.linear.forward(hidden);
        PointerLogits {
            start: logits.select(-1, 0),
            end: logits.select(-1, 1),
        }
    }
}

/// The relation-specific object tagger: one linear layer H → 2R, after an optional hidden
/// layer.
///
/// Why the hidden layer: with eq. (15)'s linear map, logit_{t,r} = w_r·h_t + w_r·v_sub + b_r,
/// so the subject only shifts every token's score for relation r by the same amount; the
/// ranking of tokens is the same for every subject. Two subjects of one sentence with the same
/// relation and different objects ("球囊预扩张后置入支架": 预扩张 → 球囊, 置入 → 支架, both
/// TmMc) then cannot both be right. One GELU layer on h_t + v_sub (`hidden` > 0) lets the
/// subject change the ranking; `hidden` = 0 is the paper's tagger exactly.
///
/// Why the distance feature (`object_distance` d > 0): v_sub says *which* subject, not *where*
/// each token lies from it. In a vessel list written with commas (前降支…病变，狭窄程度70%，回旋支
/// …), every finding of the list reads alike to every vessel, and the trained taggers score
/// them alike (BENCHMARKS.md, "Vessel lists written with commas"). A learned vector per offset
/// t − start of the subject, clipped to [−d, d] as Shaw et al.'s relative positions are in the
/// encoder's attention (eqs. 10–11), is added to h_t + v_sub so the tagger can learn that a
/// vessel's findings follow it closely.
#[derive(Debug)]
pub struct ObjectTagger {
    hidden: Option<nn::Linear>,
    distance: Option<(nn::Embedding, i64)>,
    linear: nn::Linear,
    n_relations: i64,
}

/// Subjects to tag objects for, batched: row n is subject (start, end) of batch item `batch[n]`.
#[derive(Debug)]
pub struct SubjectSpans {
    /// [N] int64: index into the batch.
    pub batch: Tensor,
    /// [N] int64: token positions of the subject's first and last token.
    pub start: Tensor,
    pub end: Tensor,
}

impl SubjectSpans {
    pub fn len(&self) -> i64 {
        self.batch.size()[0]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn from_vecs(
        batch: &[i64],
        start: &[i64],
        end: &[i64],
        device: tch::Device,
    ) -> SubjectSpans {
        let t = |v: &[i64]| Tensor::from_slice(v).to_kind(Kind::Int64).to_device(device);
        SubjectSpans {
            batch: t(batch),
            start: t(start),
            end: t(end),
        }
    }
}

impl ObjectTagger {
    /// `(object_hidden, object_distance)`: the hidden layer's width and the distance feature's
    /// clip (0: none).
    pub fn new(
        p: nn::Path,
        hidden: i64,
        (object_hidden, object_distance): (i64, i64),
        n_relations: i64,
    ) -> ObjectTagger {
        let distance = (object_distance > 0).then(|| {
            (
                nn::embedding(
                    &p / "distance",
                    2 * object_distance + 1,
                    hidden,
                    Default::default(),
                ),
                object_distance,
            )
        });
        if object_hidden > 0 {
            ObjectTagger {
                hidden: Some(nn::linear(
                    &p / "hidden",
                    hidden,
                    object_hidden,
                    Default::default(),
                )),
                distance,
                linear: nn::linear(
                    &p / "output",
                    object_hidden,
                    2 * n_relations,
                    Default::default(),
                ),
                n_relations,
            }
        } else {
            ObjectTagger {
                hidden: None,
                distance,
                linear: nn::linear(p, hidden, 2 * n_relations, Default::default()),
                n_relations,
            }
        }
    }

    /// `fused` [B, L, H], `subjects` N spans → start/end logits [N, L, R] (eqs. 15–16). The
    /// encoder ran once per sentence; every subject of the batch is tagged in this one pass.
    pub fn forward(&self, fused: &Tensor, subjects: &SubjectSpans) -> PointerLogits {
        let (_, seq_len, hidden) = fused.size3().expect("[B, L, H]");
        let states = fused.index_select(0, &subjects.batch); // [N, L, H]
        let pick = |pos: &Tensor| {
            states.gather(
                1,
                &pos.view([-1, 1, 1]).expand([-1, 1, hidden], false),
                false,
            )
        };
        let v_sub = (pick(&subjects.start) + pick(&subjects.end)) / 2.0; // [N, 1, H]
        let conditioned = states + v_sub;
        let conditioned = match &self.distance {
            // [N, L]: each token's offset from its subject's start, clipped, as an index.
            Some((embedding, d)) => {
                let positions = Tensor::arange(seq_len, (Kind::Int64, fused.device()));
                let offset =
                    (positions.unsqueeze(0) - subjects.start.unsqueeze(1)).clamp(-*d, *d) + *d;
                conditioned + embedding.forward(&offset)
            }
            None => conditioned,
        };
        let conditioned = match &self.hidden {
            Some(h) => h.forward(&conditioned).gelu("none"),
            None => conditioned,
        };
        let logits = self
            .linear
            .forward(&conditioned)
            .view([-1, seq_len, self.n_relations, 2]);
        PointerLogits {
            start: logits.select(-1, 0),
            end: logits.select(-1, 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With every token's state alike, the paper's tagger scores every token alike for a
    /// subject; the distance feature scores them by their offset from the subject's start, the
    /// same offset alike (clipped beyond ±d).
    #[test]
    fn the_distance_feature_scores_tokens_by_their_offset_from_the_subject() {
        tch::manual_seed(3);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let plain = ObjectTagger::new(&vs.root() / "plain", 4, (0, 0), 1);
        let near = ObjectTagger::new(&vs.root() / "near", 4, (0, 2), 1);
        let fused = Tensor::ones([1, 9, 4], (Kind::Float, tch::Device::Cpu));
        let subject = SubjectSpans::from_vecs(&[0], &[4], &[5], tch::Device::Cpu);
        let scores = |t: &ObjectTagger| {
            Vec::<f32>::try_from(t.forward(&fused, &subject).start.view([-1])).unwrap()
        };
        let p = scores(&plain);
        assert!(p.iter().all(|&x| (x - p[0]).abs() < 1e-6), "{p:?}");
        let d = scores(&near);
        // Offsets −4..4 clip to −2..2: tokens 0–2 alike (≤ −2), 6–8 alike (≥ 2).
        assert!(
            (d[0] - d[2]).abs() < 1e-6 && (d[6] - d[8]).abs() < 1e-6,
            "{d:?}"
        );
        assert!(
            (d[3] - d[4]).abs() > 1e-4 && (d[4] - d[5]).abs() > 1e-4,
            "{d:?}"
        );
    }
}

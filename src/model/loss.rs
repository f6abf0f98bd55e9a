//! The training objective (eq. 18): binary cross-entropy of the four taggers — subject start,
//! subject end, and, for every gold subject, object start and end — averaged over real tokens
//! (padding masked out) and summed. Eq. (18) sums the object log-likelihood over relations, so
//! the object terms are summed over r before the token average (as CasRel's own code does);
//! averaging over r as well would shrink the object signal R-fold against the subject's and
//! leave the shared layers to the subject tagger.

use tch::{Kind, Reduction, Tensor};

use super::taggers::PointerLogits;

/// Masked mean BCE with logits. `mask` broadcasts against `logits`.
pub fn masked_bce(logits: &Tensor, targets: &Tensor, mask: &Tensor) -> Tensor {
    let logits = logits.to_kind(Kind::Float);
    let mask = mask.to_kind(Kind::Float).expand_as(&logits);
    let per_token =
        logits.binary_cross_entropy_with_logits::<Tensor>(targets, None, None, Reduction::None);
    (per_token * &mask).sum(Kind::Float) / mask.sum(Kind::Float).clamp_min(1.0)
}

/// Masked BCE with logits summed over the last axis (relations), averaged over the positions
/// of `mask` ([N, L] for logits [N, L, R]).
pub fn masked_bce_sum_last(logits: &Tensor, targets: &Tensor, mask: &Tensor) -> Tensor {
    let logits = logits.to_kind(Kind::Float);
    let mask = mask.to_kind(Kind::Float);
    let per_token = logits
        .binary_cross_entropy_with_logits::<Tensor>(targets, None, None, Reduction::None)
        .sum_dim_intlist(-1, false, Kind::Float);
    (per_token * &mask).sum(Kind::Float) / mask.sum(Kind::Float).clamp_min(1.0)
}

/// Loss parts, summed by `total`.
#[derive(Debug)]
pub struct Loss {
    pub subject: Tensor,
    /// `None` when the batch has no gold subject.
    pub object: Option<Tensor>,
}

impl Loss {
    pub fn total(&self) -> Tensor {
        match &self.object {
            Some(o) => &self.subject + o,
            None => self.subject.shallow_clone(),
        }
    }
}

/// eq. (18). `subject_targets` [B, L] each; `object` logits/targets [N, L, R] with
/// `object_mask` [N, L] (the token mask of each subject's sentence).
pub fn cbrrel_loss(
    subject: &PointerLogits,
    subject_start: &Tensor,
    subject_end: &Tensor,
    mask: &Tensor,
    object: Option<(&PointerLogits, &Tensor, &Tensor, &Tensor)>,
) -> Loss {
    let subject_loss = masked_bce(&subject.start, subject_start, mask)
        + masked_bce(&subject.end, subject_end, mask);
    let object_loss = object.map(|(logits, start, end, object_mask)| {
        masked_bce_sum_last(&logits.start, start, object_mask)
            + masked_bce_sum_last(&logits.end, end, object_mask)
    });
    Loss {
        subject: subject_loss,
        object: object_loss,
    }
}

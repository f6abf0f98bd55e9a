//! CBRRel (§3): encoder → BiLSTM → relative-position attention → subject tagger, and
//! → feature fusion (U-Net) → relation-specific object taggers. Each optional module has a
//! switch in `CbrrelConfig` (Table 7's ablations; all off = CasRel).
//!
//! Variable names: `bert.…` (HF keys), `head.bilstm.…`, `head.attention.…`, `head.subject.…`,
//! `head.fusion.…`, `head.object.…`. The encoder is in optimizer group 0 and the head in
//! group 1, so they can learn at different rates.

use tch::nn;
use tch::Tensor;

use super::bilstm::BiLstm;
use super::config::{CbrrelConfig, Fusion};
use super::encoder::BertModel;
use super::rel_attention::RelPosAttention;
use super::taggers::{ObjectTagger, PointerLogits, SubjectSpans, SubjectTagger};
use super::unet::{Cnn2d, UNet2d};

/// Optimizer groups.
pub const ENCODER_GROUP: usize = 0;
pub const HEAD_GROUP: usize = 1;

// One per model: boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum FusionLayer {
    UNet(UNet2d),
    Cnn(Cnn2d),
    None,
}

#[derive(Debug)]
pub struct Cbrrel {
    pub config: CbrrelConfig,
    pub encoder: BertModel,
    bilstm: Option<BiLstm>,
    attention: Option<RelPosAttention>,
    subject: SubjectTagger,
    fusion: FusionLayer,
    object: ObjectTagger,
}

/// Seconds per stage, summed over calls (stage names as in pipeline/torch_reference.py's
/// profile, so the two implementations' profiles line up).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct StageTimes(pub std::collections::BTreeMap<&'static str, f64>);

impl StageTimes {
    pub fn add(&mut self, name: &'static str, seconds: f64) {
        *self.0.entry(name).or_insert(0.0) += seconds;
    }
}

/// `f()`, its wall time added to `times` under `name` when profiling.
fn timed<T>(times: &mut Option<&mut StageTimes>, name: &'static str, f: impl FnOnce() -> T) -> T {
    match times {
        Some(t) => {
            let started = std::time::Instant::now();
            let out = f();
            t.add(name, started.elapsed().as_secs_f64());
            out
        }
        None => f(),
    }
}

/// What one pass of the encoder stack gives for a batch of sentences.
#[derive(Debug)]
pub struct Encoded {
    /// Subject logits, [B, L] each.
    pub subject: PointerLogits,
    /// States the object taggers read (after fusion), [B, L, H].
    pub fused: Tensor,
}

impl Cbrrel {
    pub fn new(root: &nn::Path, config: &CbrrelConfig) -> Cbrrel {
        let enc = root.set_group(ENCODER_GROUP);
        let head = root.set_group(HEAD_GROUP) / "head";
        let h = config.hidden();
        let hc = &config.head;
        Cbrrel {
            encoder: BertModel::new(&enc / "bert", &config.encoder),
            bilstm: hc
                .bilstm
                .then(|| BiLstm::new(&head / "bilstm", h, hc.dropout)),
            attention: hc.attention.then(|| {
                RelPosAttention::new(
                    &head / "attention",
                    h,
                    hc.attention_heads,
                    hc.max_relative_position,
                    hc.dropout,
                )
            }),
            subject: SubjectTagger::new(&head / "subject", h),
            fusion: match hc.fusion {
                Fusion::Unet => {
                    FusionLayer::UNet(UNet2d::new(&head / "fusion", h, hc.fusion_channels))
                }
                Fusion::Cnn => {
                    FusionLayer::Cnn(Cnn2d::new(&head / "fusion", h, hc.fusion_channels))
                }
                Fusion::None => FusionLayer::None,
            },
            object: ObjectTagger::new(
                &head / "object",
                h,
                (hc.object_hidden, hc.object_distance),
                config.n_relations(),
            ),
            config: config.clone(),
        }
    }

    /// `input_ids` [B, L], `mask` [B, L] → subject logits and fused states. Runs the encoder
    /// once per sentence, whatever the number of subjects.
    pub fn encode(&self, input_ids: &Tensor, mask: &Tensor, train: bool) -> Encoded {
        self.encode_timed(input_ids, mask, train, None)
    }

    /// [`encode`](Self::encode), adding each stage's seconds to `times` when given (the
    /// profile of `make bench-model`; on the CPU every op has finished when it returns).
    pub fn encode_timed(
        &self,
        input_ids: &Tensor,
        mask: &Tensor,
        train: bool,
        mut times: Option<&mut StageTimes>,
    ) -> Encoded {
        let mut hidden = timed(&mut times, "encoder", || {
            self.encoder.forward_t(input_ids, mask, train) // eq. (3)
        });
        if let Some(bilstm) = &self.bilstm {
            hidden = timed(&mut times, "bilstm", || {
                bilstm.forward_t(&hidden, mask, train) // eqs. (4)–(9)
            });
        }
        if let Some(attention) = &self.attention {
            hidden = timed(&mut times, "attention", || {
                attention.forward_t(&hidden, mask, train) // eqs. (10)–(11)
            });
        }
        let subject = timed(&mut times, "subject tagger", || {
            self.subject.forward(&hidden)
        }); // eqs. (12)–(13)
        let fused = timed(&mut times, "fusion", || match &self.fusion {
            FusionLayer::UNet(u) => u.forward(&hidden, mask), // §3.6
            FusionLayer::Cnn(c) => c.forward(&hidden, mask),
            FusionLayer::None => hidden.shallow_clone(),
        });
        Encoded { subject, fused }
    }

    /// Object logits [N, L, R] for N subjects of the batch (eqs. 15–16).
    pub fn objects(
        &self,
        encoded: &Encoded,
        subjects: &SubjectSpans,
        train: bool,
    ) -> PointerLogits {
        let fused = encoded.fused.dropout(self.config.head.dropout, train);
        self.object.forward(&fused, subjects)
    }

    /// The word-embedding matrix FGM perturbs (§3.2).
    pub fn word_embeddings(&self) -> &Tensor {
        &self.encoder.embeddings.word_embeddings.ws
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::loss::cbrrel_loss;
    use crate::model::{BertConfig, SubjectSpans};
    use tch::{nn::VarStore, Device, Kind, Tensor};

    fn tiny(bilstm: bool, attention: bool, fusion: Fusion) -> CbrrelConfig {
        let mut cfg = CbrrelConfig::full(
            BertConfig::sized(50, 16, 1, 2),
            vec!["A".into(), "B".into(), "C".into()],
        );
        cfg.head.bilstm = bilstm;
        cfg.head.attention = attention;
        cfg.head.fusion = fusion;
        cfg.head.attention_heads = 2;
        cfg.head.max_relative_position = 3;
        cfg.head.fusion_channels = 2;
        cfg
    }

    fn names(cfg: &CbrrelConfig) -> (Vec<String>, i64) {
        let vs = VarStore::new(Device::Cpu);
        let _m = Cbrrel::new(&vs.root(), cfg);
        let mut n: Vec<String> = vs.variables().keys().cloned().collect();
        n.sort();
        (n, vs.variables().values().map(|t| t.numel() as i64).sum())
    }

    #[test]
    fn every_module_receives_gradient() {
        tch::manual_seed(11);
        let vs = VarStore::new(Device::Cpu);
        let model = Cbrrel::new(&vs.root(), &tiny(true, true, Fusion::Unet));
        let ids = Tensor::from_slice(&[2i64, 7, 8, 9, 10, 3, 2, 11, 12, 3, 0, 0]).view([2, 6]);
        let mask = ids.ne(0).to_kind(Kind::Int64);
        let encoded = model.encode(&ids, &mask, true);
        let subjects = SubjectSpans::from_vecs(&[0, 1], &[1, 1], &[2, 2], Device::Cpu);
        let objects = model.objects(&encoded, &subjects, true);
        let target =
            |shape: &[i64]| Tensor::zeros(shape, (Kind::Float, Device::Cpu)).bernoulli_float_(0.3);
        let loss = cbrrel_loss(
            &encoded.subject,
            &target(&[2, 6]),
            &target(&[2, 6]),
            &mask,
            Some((
                &objects,
                &target(&[2, 6, 3]),
                &target(&[2, 6, 3]),
                &mask.index_select(0, &subjects.batch),
            )),
        );
        loss.total().backward();
        let mut without = Vec::new();
        for (name, var) in vs.variables() {
            // Position embeddings past the sequence and token-type row 1 are never used.
            if name.contains("position_embeddings")
                || name.contains("token_type_embeddings")
                || name.contains("word_embeddings")
            {
                continue;
            }
            let g = var.grad();
            if !g.defined() || g.abs().sum(Kind::Float).double_value(&[]) == 0.0 {
                without.push(name);
            }
        }
        assert!(without.is_empty(), "no gradient reaches {without:?}");
        let word = model.word_embeddings().grad();
        assert!(word.get(7).abs().sum(Kind::Float).double_value(&[]) > 0.0);
    }

    #[test]
    fn each_ablation_removes_its_module() {
        let (full, full_n) = names(&tiny(true, true, Fusion::Unet));
        let has = |v: &[String], p: &str| v.iter().any(|n| n.starts_with(p));
        assert!(
            has(&full, "head.bilstm.")
                && has(&full, "head.attention.")
                && has(&full, "head.fusion.enc1")
        );
        let cases = [
            (tiny(false, true, Fusion::Unet), "head.bilstm."),
            (tiny(true, false, Fusion::Unet), "head.attention."),
            (tiny(true, true, Fusion::Cnn), "head.fusion.enc1"),
            (tiny(true, true, Fusion::None), "head.fusion."),
        ];
        for (cfg, gone) in cases {
            let (n, count) = names(&cfg);
            assert!(!has(&n, gone), "{gone} still there");
            assert!(count < full_n, "{gone}: {count} ≥ {full_n}");
        }
        // CasRel: the encoder and the two taggers only.
        let (casrel, _) = names(&tiny(false, false, Fusion::None));
        assert!(
            casrel.iter().all(|n| n.starts_with("bert.")
                || n.starts_with("head.subject.")
                || n.starts_with("head.object.")),
            "{casrel:?}"
        );
    }
}

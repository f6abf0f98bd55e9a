//! One training step, shared by `cbrrel train` (trainer.rs) and the side-by-side benchmark
//! against PyTorch (benches/model_speed.rs), so that the benchmark times exactly the step that
//! trains the shipped models.
//!
//! Per step: forward, eq. (18) loss, backward; FGM (§3.2) adds the adversarial loss's
//! gradients and restores the embeddings exactly; gradient clipping (a non-finite loss or norm
//! skips the step, step_guard.rs); AdamW with the encoder's and the head's learning rates
//! (libtorch's fused kernel, adamw.rs, unless `train.fused_adamw = false`); EMA update.
//! Training runs in f32 on every device (issue 11 §1): tch's autocast is libtorch's CUDA
//! default, f16, and tch exposes neither its dtype nor a loss scaler, so f16 training would
//! underflow small gradients. Prediction on CUDA uses autocast (predict.rs)
//! with softmax and the probabilities in f32.

use tch::nn::{self, OptimizerConfig, VarStore};
use tch::Kind;

use super::adamw::FusedAdamW;
use super::ema::Ema;
use super::fgm::Fgm;
use super::step_guard::clip_finite;
use crate::infer::batch::Batch;
use crate::infer::settings::TrainSettings;
use crate::model::loss::cbrrel_loss;
use crate::model::{Cbrrel, ENCODER_GROUP, HEAD_GROUP};

/// What one step did.
#[derive(Debug, Clone, PartialEq)]
pub enum StepOutcome {
    /// The weights moved; the loss before the step.
    Applied(f64),
    /// Nothing reached the weights; why (a non-finite loss or gradient norm).
    Skipped(String),
}

/// AdamW, fused (adamw.rs) or tch's (libtorch's C++ `torch::optim::AdamW`): the same
/// arithmetic, the second in about eight passes over each weight instead of one.
enum AdamW {
    Fused(FusedAdamW),
    Libtorch(nn::Optimizer),
}

impl AdamW {
    fn set_lr_group(&mut self, group: usize, lr: f64) {
        match self {
            AdamW::Fused(o) => o.set_lr_group(group, lr),
            AdamW::Libtorch(o) => o.set_lr_group(group, lr),
        }
    }

    fn zero_grad(&mut self) -> Result<(), tch::TchError> {
        match self {
            AdamW::Fused(o) => o.zero_grad(),
            AdamW::Libtorch(o) => {
                o.zero_grad();
                Ok(())
            }
        }
    }

    fn step(&mut self) -> Result<(), tch::TchError> {
        match self {
            AdamW::Fused(o) => o.step(),
            AdamW::Libtorch(o) => {
                o.step();
                Ok(())
            }
        }
    }
}

/// The optimizer state of a run: AdamW over `vs`, and the EMA of the weights when on.
pub struct Stepper<'a> {
    model: &'a Cbrrel,
    vs: &'a VarStore,
    opt: AdamW,
    ema: Option<Ema>,
    settings: &'a TrainSettings,
}

impl<'a> Stepper<'a> {
    pub fn new(
        model: &'a Cbrrel,
        vs: &'a VarStore,
        settings: &'a TrainSettings,
    ) -> Result<Stepper<'a>, tch::TchError> {
        let opt = if settings.fused_adamw {
            AdamW::Fused(FusedAdamW::new(vs, settings.lr, settings.weight_decay))
        } else {
            AdamW::Libtorch(
                nn::AdamW {
                    wd: settings.weight_decay,
                    ..Default::default()
                }
                .build(vs, settings.lr)?,
            )
        };
        Ok(Stepper {
            model,
            vs,
            opt,
            ema: settings.ema.then(|| Ema::new(vs, settings.ema_decay)),
            settings,
        })
    }

    /// The EMA of the weights (evaluation and the saved checkpoint use it).
    pub fn ema(&self) -> Option<&Ema> {
        self.ema.as_ref()
    }

    /// One step on `batch` at `lr_factor` × the settings' learning rates. An error is
    /// libtorch refusing the optimizer's kernel (e.g. a device it has no fused AdamW for:
    /// `train.fused_adamw = false` then), never a property of the batch.
    pub fn step(&mut self, batch: &Batch, lr_factor: f64) -> Result<StepOutcome, tch::TchError> {
        let (t, model) = (self.settings, self.model);
        self.opt.set_lr_group(ENCODER_GROUP, t.lr * lr_factor);
        self.opt.set_lr_group(HEAD_GROUP, t.head_lr * lr_factor);
        self.opt.zero_grad()?;
        let forward = || {
            let encoded = model.encode(&batch.input_ids, &batch.mask, true);
            let objects = (!batch.subjects.is_empty())
                .then(|| model.objects(&encoded, &batch.subjects, true));
            cbrrel_loss(
                &encoded.subject,
                &batch.subject_start,
                &batch.subject_end,
                &batch.mask,
                objects.as_ref().map(|o| {
                    (
                        o,
                        &batch.object_start,
                        &batch.object_end,
                        &batch.object_mask,
                    )
                }),
            )
            .total()
        };
        let loss = forward();
        let l = loss.to_kind(Kind::Float).double_value(&[]);
        if !l.is_finite() {
            return Ok(StepOutcome::Skipped(format!("loss {l}")));
        }
        loss.backward();
        if t.fgm {
            if let Some(attack) =
                Fgm::attack(model.word_embeddings(), &batch.input_ids, t.fgm_epsilon)
            {
                forward().backward();
                attack.restore(model.word_embeddings());
            }
        }
        if clip_finite(self.vs, t.max_grad_norm).is_none() {
            self.opt.zero_grad()?;
            return Ok(StepOutcome::Skipped("gradient norm not finite".into()));
        }
        self.opt.step()?;
        if let Some(ema) = self.ema.as_mut() {
            ema.update(self.vs);
        }
        Ok(StepOutcome::Applied(l))
    }
}

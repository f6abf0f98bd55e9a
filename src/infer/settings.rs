//! Training settings: `pipeline/train.toml`, every field overridable on the command line
//! (`--set train.epochs=3`, plus named flags for the common ones and the ablations).
//! Defaults follow the paper's Table 3 where they make sense (batch 4, max length 300,
//! dropout 0.1, EMA); where they do not (FGM ε 3e-5, one learning rate of 1e-5 for randomly
//! initialised heads) the file says why it differs.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::predict::DecodeSettings;
use crate::model::{Fusion, HeadConfig};

/// Optimisation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSettings {
    pub epochs: usize,
    pub batch_size: usize,
    /// Learning rate of the encoder (group 0).
    pub lr: f64,
    /// Learning rate of the head (group 1): randomly initialised, it needs more than the
    /// encoder's fine-tuning rate.
    pub head_lr: f64,
    pub weight_decay: f64,
    /// AdamW as libtorch's fused kernel (src/train/adamw.rs) rather than tch's optimizer: the
    /// same arithmetic in one pass over each weight. Absent in older run directories: false,
    /// the optimizer they were trained with.
    #[serde(default)]
    pub fused_adamw: bool,
    /// Share of the steps spent warming up.
    pub warmup_ratio: f64,
    pub max_grad_norm: f64,
    pub fgm: bool,
    pub fgm_epsilon: f64,
    pub ema: bool,
    pub ema_decay: f64,
    /// Epochs without a better dev F1 before stopping.
    pub patience: usize,
    pub seed: u64,
    pub max_len: usize,
    /// Join neighbouring sentences into segments of up to `max_len` tokens.
    pub merge: bool,
    /// Latin letters and digits as single-character tokens (`SegmentConfig::split_alnum`,
    /// issue 11 §3). Absent in older run directories: false, the WordPiece words they used.
    #[serde(default)]
    pub split_alnum: bool,
    /// Share of the training reports shown a second time with their `；` lists written with
    /// commas (train/augment.rs). Absent in older run directories: 0, the reports as written.
    #[serde(default)]
    pub comma_lists: f64,
    pub eval_batch_size: usize,
    /// Share of an epoch's steps that may be skipped for a non-finite loss or gradient norm
    /// before training stops with an error (train/step_guard.rs, issue 11 §1).
    #[serde(default = "default_max_skipped_share")]
    pub max_skipped_share: f64,
}

fn default_max_skipped_share() -> f64 {
    0.05
}

/// The whole `train.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `[model]`: the head's switches and sizes, stored as they are in every run directory.
    pub model: HeadConfig,
    pub train: TrainSettings,
    /// `[decode]`: the thresholds saved with the model (`subject_threshold`, `object_threshold`).
    pub decode: DecodeSettings,
}

/// The defaults, as shipped in pipeline/train.toml.
pub const DEFAULT_TOML: &str = include_str!("../../pipeline/train.toml");

impl Settings {
    /// Parse a train.toml, apply `key=value` overrides (`train.epochs=3`), validate.
    pub fn load(path: Option<&Path>, overrides: &[String]) -> Result<Settings, String> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?,
            None => DEFAULT_TOML.to_owned(),
        };
        let mut value: toml::Value =
            toml::from_str(&text).map_err(|e| format!("train config: {e}"))?;
        for o in overrides {
            let (key, raw) = o
                .split_once('=')
                .ok_or_else(|| format!("override `{o}`: expected section.key=value"))?;
            let (section, field) = key
                .trim()
                .split_once('.')
                .ok_or_else(|| format!("override `{o}`: expected section.key=value"))?;
            let parsed: toml::Value = toml::from_str::<toml::Table>(&format!("v = {}", raw.trim()))
                .map(|mut t| t.remove("v").expect("v"))
                .unwrap_or_else(|_| toml::Value::String(raw.trim().to_owned()));
            let table = value
                .get_mut(section)
                .and_then(|s| s.as_table_mut())
                .ok_or_else(|| format!("override `{o}`: no section [{section}]"))?;
            if !table.contains_key(field) && !optional_fields(section).contains(&field) {
                return Err(format!(
                    "override `{o}`: [{section}] has no field `{field}`"
                ));
            }
            table.insert(field.to_owned(), parsed);
        }
        let settings: Settings = value
            .try_into()
            .map_err(|e: toml::de::Error| format!("train config: {e}"))?;
        settings.validate()?;
        Ok(settings)
    }

    pub fn validate(&self) -> Result<(), String> {
        let t = &self.train;
        if t.epochs == 0 || t.batch_size == 0 || t.eval_batch_size == 0 {
            return Err("epochs, batch_size and eval_batch_size must be ≥ 1".into());
        }
        if !(t.lr > 0.0 && t.head_lr > 0.0) {
            return Err("learning rates must be > 0".into());
        }
        if !(0.0..=1.0).contains(&t.max_skipped_share) {
            return Err("train.max_skipped_share must be in [0, 1]".into());
        }
        if !(0.0..=1.0).contains(&t.comma_lists) {
            return Err("train.comma_lists must be in [0, 1]".into());
        }
        if !(0.0..1.0).contains(&t.warmup_ratio) || !(0.0..1.0).contains(&t.ema_decay) {
            return Err("warmup_ratio and ema_decay must be in [0, 1)".into());
        }
        if t.max_len < 8 || t.max_len > 512 {
            return Err(format!("max_len {} outside 8..=512", t.max_len));
        }
        let d = &self.decode;
        if !(0.0..=1.0).contains(&d.subject) || !(0.0..=1.0).contains(&d.object) {
            return Err("thresholds must be in [0, 1]".into());
        }
        if !(0.0..=1.0).contains(&d.scope_coverage) {
            return Err("decode.scope_coverage must be in [0, 1]".into());
        }
        if !(0.0..=1.0).contains(&d.order_coverage) {
            return Err("decode.order_coverage must be in [0, 1]".into());
        }
        if d.max_subjects == 0 || d.subject_chunk == 0 {
            return Err("decode.max_subjects and decode.subject_chunk must be ≥ 1".into());
        }
        Ok(())
    }
}

/// Fields a settings file may leave out (they have defaults), so that `--set` reaches them
/// even when the file does not name them: the decoding switches added after a user's copy of
/// train.toml was written.
fn optional_fields(section: &str) -> &'static [&'static str] {
    match section {
        "decode" => &[
            "span_rule",
            "pair_scope",
            "scope_coverage",
            "pair_block",
            "pair_direction",
            "order_coverage",
            "tune_thresholds",
            "max_subjects",
            "subject_chunk",
        ],
        "train" => &["max_skipped_share", "comma_lists"],
        "model" => &["object_distance"],
        _ => &[],
    }
}

/// The named flags of `cbrrel train` (the common settings and the paper's ablations), applied
/// typed over train.toml and its `--set` overrides: a flag given wins.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TrainFlags {
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Encoder learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long)]
    pub seed: Option<u64>,
    #[arg(long)]
    pub max_len: Option<usize>,
    /// Ablation: no relative-position attention.
    #[arg(long)]
    pub no_attention: bool,
    /// Ablation: no FGM adversarial training.
    #[arg(long)]
    pub no_fgm: bool,
    /// Ablation: no BiLSTM.
    #[arg(long)]
    pub no_bilstm: bool,
    /// Feature fusion: the paper's U-Net, a plain CNN (ablation) or none.
    #[arg(long, value_enum)]
    pub fusion: Option<Fusion>,
    /// CasRel: encoder and taggers only (no BiLSTM, attention, fusion or FGM).
    #[arg(long)]
    pub encoder_only: bool,
}

impl Settings {
    /// Apply the named flags, then validate again.
    pub fn apply(&mut self, f: &TrainFlags) -> Result<(), String> {
        let t = &mut self.train;
        t.epochs = f.epochs.unwrap_or(t.epochs);
        t.batch_size = f.batch_size.unwrap_or(t.batch_size);
        t.lr = f.lr.unwrap_or(t.lr);
        t.seed = f.seed.unwrap_or(t.seed);
        t.max_len = f.max_len.unwrap_or(t.max_len);
        let m = &mut self.model;
        m.attention &= !(f.no_attention || f.encoder_only);
        m.bilstm &= !(f.no_bilstm || f.encoder_only);
        t.fgm &= !(f.no_fgm || f.encoder_only);
        if f.encoder_only {
            m.fusion = Fusion::None;
        }
        if let Some(fusion) = f.fusion {
            m.fusion = fusion;
        }
        self.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_defaults_load_and_overrides_apply() {
        let s = Settings::load(None, &[]).unwrap();
        assert_eq!(s.train.batch_size, 4);
        assert_eq!(s.train.max_len, 300);
        assert_eq!(s.model.fusion, Fusion::Unet);
        let s = Settings::load(
            None,
            &[
                "train.epochs=3".into(),
                "model.fusion=cnn".into(),
                "train.fgm=false".into(),
            ],
        )
        .unwrap();
        assert_eq!(
            (s.train.epochs, s.model.fusion, s.train.fgm),
            (3, Fusion::Cnn, false)
        );
        assert!(Settings::load(None, &["train.epoch=3".into()])
            .unwrap_err()
            .contains("no field `epoch`"));
        assert!(Settings::load(None, &["train.batch_size=0".into()]).is_err());
        // A decoding switch a user's older copy of the file does not name is still
        // reachable, with its default otherwise.
        let dir = tempfile::tempdir().unwrap();
        let older = dir.path().join("train.toml");
        let text: String = DEFAULT_TOML
            .lines()
            .filter(|l| !l.starts_with("tune_thresholds") && !l.starts_with("span_rule"))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&older, text).unwrap();
        let s = Settings::load(Some(&older), &["decode.tune_thresholds=true".into()]).unwrap();
        assert!(s.decode.tune_thresholds);
        let s = Settings::load(Some(&older), &[]).unwrap();
        assert!(!s.decode.tune_thresholds);
        assert_eq!(s.decode.span_rule, crate::infer::rules::SpanRule::Nearest);
        // The shipped file turns issue 13's decoding fixes on (measured by the folds).
        let shipped = Settings::load(None, &[]).unwrap().decode;
        assert!(shipped.tune_thresholds);
        assert_eq!(shipped.span_rule, crate::infer::rules::SpanRule::Bounded);
        assert_eq!(shipped.pair_scope, crate::infer::rules::PairScope::Tuned);
        use crate::infer::rules::PairRule;
        assert_eq!(
            (shipped.pair_direction, shipped.pair_block),
            (PairRule::Tuned, PairRule::Tuned)
        );
        assert!((shipped.order_coverage - 0.99).abs() < 1e-6);
        let off = Settings::load(None, &["decode.pair_block=off".into()]).unwrap();
        assert_eq!(off.decode.pair_block, PairRule::Off);
        assert!(Settings::load(None, &["decode.order_coverage=1.5".into()])
            .unwrap_err()
            .contains("order_coverage"));
        let learned = Settings::load(None, &["decode.pair_scope=learned".into()]).unwrap();
        assert_eq!(
            learned.decode.pair_scope,
            crate::infer::rules::PairScope::Learned
        );
        assert!(Settings::load(None, &["decode.tune=true".into()])
            .unwrap_err()
            .contains("no field `tune`"));
    }
}

//! A trained model's directory stands alone: `model.safetensors` (EMA weights when EMA was on),
//! `config.json` (architecture, schema, relation order, thresholds, segmenting, training
//! settings, model id), the tokenizer file, and `metrics.jsonl` (one line per epoch).
//! Loading it needs nothing else.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::nn::VarStore;
use tch::Device;

use super::precision::Precision;
use super::predict::{DecodeSettings, Predictor};
use super::rules::{DecodeRules, Scope, SpanStats};
use super::settings::Settings;
use crate::corpus::{Corpus, Schema};
use crate::model::{checkpoint, Cbrrel, CbrrelConfig, ModelError};
use crate::text::{BertTokenizer, SegmentConfig};

pub const CONFIG_FILE: &str = "config.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const METRICS_FILE: &str = "metrics.jsonl";

/// `config.json` of a run directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// `cbrrel-<hash>`: names the model in predictions and provenance.
    pub model_id: String,
    /// Seconds since the Unix epoch.
    pub created_unix: u64,
    pub model: CbrrelConfig,
    pub schema: Schema,
    pub thresholds: DecodeSettings,
    pub segment: SegmentConfig,
    /// File name of the tokenizer inside the directory.
    pub tokenizer_file: String,
    pub settings: Settings,
    /// Where the encoder weights came from (a HF folder) or `random`.
    pub encoder_source: String,
    /// Dev scores of the saved weights, when a dev set was given.
    pub dev: Option<serde_json::Value>,
    /// What the training data says about spans and pairs (rules.rs), read by the decoding
    /// rules `thresholds` may switch on; absent in models trained before it was measured.
    #[serde(default)]
    pub span_stats: Option<SpanStats>,
    /// Object thresholds per relation code tuned on dev (`decode.tune_thresholds`, tune.rs);
    /// a relation without one uses `thresholds.object`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub object_thresholds: BTreeMap<String, f32>,
    /// Pair scopes per relation code tuned on dev (`decode.pair_scope = "tuned"`, tune.rs);
    /// a relation without one keeps the learned scope.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pair_scopes: BTreeMap<String, Scope>,
    /// Blocking per relation code tuned on dev (`decode.pair_block = "tuned"`, tune.rs); a
    /// relation without an entry keeps the learned choice.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pair_blocks: BTreeMap<String, bool>,
    /// Whether each relation code is held to its learned direction, tuned on dev
    /// (`decode.pair_direction = "tuned"`, tune.rs); a relation without an entry keeps the
    /// learned choice.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pair_directions: BTreeMap<String, bool>,
}

impl RunConfig {
    /// The decoding rules `thresholds` ask for, resolved against `span_stats`.
    pub fn rules(&self) -> Result<DecodeRules, ModelError> {
        let t = &self.thresholds;
        DecodeRules::new(
            t.span_rule,
            (t.pair_scope, t.scope_coverage),
            [t.pair_block, t.pair_direction],
            t.order_coverage,
            self.span_stats.as_ref(),
            &self.model.relations,
        )
        .map(|rules| {
            rules
                .with_pair_scopes(&self.model.relations, &self.pair_scopes)
                .with_pair_blocks(&self.model.relations, &self.pair_blocks)
                .with_pair_directions(&self.model.relations, &self.pair_directions)
                .with_object_thresholds(&self.model.relations, &self.object_thresholds)
        })
        .map_err(|e| ModelError::Config(e.to_string()))
    }
}

/// A run directory loaded into memory.
pub struct LoadedModel {
    pub dir: PathBuf,
    pub config: RunConfig,
    pub vs: VarStore,
    pub model: Cbrrel,
    pub tokenizer: BertTokenizer,
    pub device: Device,
    /// `config.rules()`, checked at load.
    pub rules: DecodeRules,
    /// The weights' precision (precision.rs): `f32` as loaded, until
    /// [`set_precision`](Self::set_precision) on the CPU.
    pub precision: Precision,
    /// Models predicting with this one, their probabilities averaged with its own
    /// ([`Predictor::ensemble`]); empty as loaded, filled by [`join`](Self::join). This
    /// model's config (decoding settings, rules, tuned thresholds and scopes) decodes the
    /// mean.
    pub ensemble: Vec<LoadedModel>,
}

impl LoadedModel {
    pub fn load(dir: &Path, device: Device) -> Result<LoadedModel, ModelError> {
        let cfg_path = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&cfg_path).map_err(|e| ModelError::Io {
            path: cfg_path.clone(),
            source: e,
        })?;
        let config = parse_config(&text)
            .map_err(|e| ModelError::Config(format!("{}: {e}", cfg_path.display())))?;
        config.model.validate()?;
        let rules = config.rules()?;
        let mut vs = VarStore::new(device);
        let model = Cbrrel::new(&vs.root(), &config.model);
        checkpoint::load_weights(&mut vs, &dir.join(WEIGHTS_FILE))?;
        let tok_path = dir.join(&config.tokenizer_file);
        let tokenizer =
            BertTokenizer::from_path(&tok_path).map_err(|e| ModelError::Config(e.to_string()))?;
        Ok(LoadedModel {
            dir: dir.to_owned(),
            config,
            vs,
            model,
            tokenizer,
            device,
            rules,
            precision: Precision::F32,
            ensemble: Vec::new(),
        })
    }

    /// Add `other` to this model's ensemble. Refused unless both read a text the same way —
    /// the same tokenizer (vocabulary and normalisation), segmenting, relations in the same
    /// order, and device — since the models' probabilities are averaged position by position
    /// and relation by relation. The architectures and trainings may differ (that is the
    /// point). A model already in an ensemble cannot join another.
    pub fn join(&mut self, other: LoadedModel) -> Result<(), ModelError> {
        let refuse = |what: &str| {
            Err(ModelError::Config(format!(
                "{} cannot predict with {}: they differ in {what}",
                other.dir.display(),
                self.dir.display()
            )))
        };
        if !other.ensemble.is_empty() {
            return Err(ModelError::Config(format!(
                "{} is an ensemble already: give its models one by one",
                other.dir.display()
            )));
        }
        if other.config.model.relations != self.config.model.relations {
            return refuse("their relations (or their order)");
        }
        if other.config.segment != self.config.segment {
            return refuse("segmenting");
        }
        if !other.tokenizer.same_as(&self.tokenizer) {
            return refuse("tokenizer");
        }
        if other.device != self.device {
            return refuse("device");
        }
        let mut other = other;
        other.set_precision(self.precision);
        self.ensemble.push(other);
        Ok(())
    }

    /// Predict in `precision` from now on: on the CPU the weights are converted in place
    /// (precision.rs); on CUDA they stay f32, autocast decides there. A CPU without native
    /// bf16 gets a warning on stderr: libtorch emulates bf16 there, slower than f32.
    pub fn set_precision(&mut self, precision: Precision) {
        if self.device.is_cuda() {
            return;
        }
        if precision == Precision::Bf16 && !super::precision::cpu_has_native_bf16() {
            eprintln!(
                "cbrrel: warning: this CPU has no native bf16 (see `cbrrel info`): bf16 prediction is emulated, slower than f32"
            );
        }
        precision.apply(&mut self.vs, self.precision);
        self.precision = precision;
        for m in &mut self.ensemble {
            m.set_precision(precision);
        }
    }

    /// Predictions over `records` as a [`Corpus`] in the model's schema (what `cbrrel eval
    /// --model` scores against the gold file), with the number of segments the model ran.
    pub fn predict_corpus(
        &self,
        records: &[crate::corpus::Record],
        batch_size: usize,
    ) -> Result<(Corpus, usize), crate::text::TokenizeError> {
        let predictor = self.predictor(batch_size);
        let examples = predictor.prepare(records)?;
        let predicted = predictor.predict_prepared(records, &examples);
        let corpus = Corpus::in_memory(self.dir.clone(), &self.config.schema, predicted);
        Ok((corpus, examples.len()))
    }

    pub fn predictor(&self, batch_size: usize) -> Predictor<'_> {
        Predictor {
            model: &self.model,
            ensemble: self.ensemble.iter().map(|m| &m.model).collect(),
            tokenizer: &self.tokenizer,
            schema: &self.config.schema,
            thresholds: self.config.thresholds,
            rules: self.rules.clone(),
            segment: self.config.segment,
            device: self.device,
            batch_size,
        }
    }
}

/// Copy the tokenizer file into `dir`, returning its name there.
pub fn copy_tokenizer(tokenizer: &BertTokenizer, dir: &Path) -> Result<String, ModelError> {
    let name = tokenizer
        .source
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "vocab.txt".into());
    let dest = dir.join(&name);
    if tokenizer.source != dest {
        // Replace, not overwrite: the copy keeps a read-only source's mode.
        let _ = std::fs::remove_file(&dest);
        std::fs::copy(&tokenizer.source, &dest).map_err(|e| ModelError::Io {
            path: dest.clone(),
            source: e,
        })?;
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o644));
    }
    // A bare vocab.txt keeps its lower-casing choice through tokenizer_config.json.
    let cfg = tokenizer.source.with_file_name("tokenizer_config.json");
    if name == "vocab.txt" && cfg.is_file() && cfg != dir.join("tokenizer_config.json") {
        let dest = dir.join("tokenizer_config.json");
        let _ = std::fs::remove_file(&dest);
        std::fs::copy(&cfg, &dest).map_err(|e| ModelError::Io {
            path: dest.clone(),
            source: e,
        })?;
    }
    Ok(name)
}

/// Parse a run directory's `config.json`, migrating the layouts older versions wrote (see
/// `CbrrelConfig::migrate_json`). The file on disk is not rewritten: loading stays read-only.
pub fn parse_config(text: &str) -> Result<RunConfig, serde_json::Error> {
    let mut value: serde_json::Value = serde_json::from_str(text)?;
    if let Some(model) = value.get_mut("model") {
        CbrrelConfig::migrate_json(model);
    }
    serde_json::from_value(value)
}

/// Write `config.json` atomically.
pub fn write_config(dir: &Path, config: &RunConfig) -> Result<(), ModelError> {
    let json =
        serde_json::to_string_pretty(config).map_err(|e| ModelError::Config(e.to_string()))?;
    crate::atomic::write(&dir.join(CONFIG_FILE), json.as_bytes())
        .map_err(|e| ModelError::Config(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::BertConfig;

    #[test]
    fn run_config_of_the_old_flat_layout_loads_as_the_current_one() {
        let settings = Settings::load(None, &[]).unwrap();
        let schema = Schema::casmed();
        let relations = schema.relations.iter().map(|r| r.code.clone()).collect();
        let config = RunConfig {
            model_id: "cbrrel-000000000000".into(),
            created_unix: 0,
            model: CbrrelConfig {
                encoder: BertConfig::sized(50, 16, 1, 2),
                relations,
                head: settings.model.clone(),
            },
            schema,
            thresholds: DecodeSettings::default(),
            segment: SegmentConfig::default(),
            tokenizer_file: "vocab.txt".into(),
            settings,
            encoder_source: "random".into(),
            dev: None,
            span_stats: None,
            object_thresholds: BTreeMap::new(),
            pair_scopes: BTreeMap::new(),
            pair_blocks: BTreeMap::new(),
            pair_directions: BTreeMap::new(),
        };
        let written = serde_json::to_string_pretty(&config).unwrap();
        assert_eq!(parse_config(&written).unwrap(), config);
        // What sessions 1–2 wrote: the head's fields flat inside `model`.
        let mut old: serde_json::Value = serde_json::from_str(&written).unwrap();
        let head = old["model"]["head"].as_object().unwrap().clone();
        let model = old["model"].as_object_mut().unwrap();
        model.remove("head");
        model.extend(head);
        assert_eq!(parse_config(&old.to_string()).unwrap(), config);
    }
}

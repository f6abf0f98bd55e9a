//! Model configuration: the encoder's HuggingFace `config.json` fields and the CBRRel head's
//! switches (one per ablation of the paper's Table 7). Stored in every checkpoint.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::ModelError;

/// The fields of a HuggingFace BERT `config.json` the encoder needs. Every size comes from the
/// file, so any BERT checkpoint (CKBERT, bert-base-chinese, m3e-small) loads; unknown keys of
/// the HF file are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    pub vocab_size: i64,
    pub hidden_size: i64,
    pub num_hidden_layers: i64,
    pub num_attention_heads: i64,
    pub intermediate_size: i64,
    #[serde(default = "default_act")]
    pub hidden_act: HiddenAct,
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f64,
    #[serde(default = "default_dropout")]
    pub attention_probs_dropout_prob: f64,
    #[serde(default = "default_positions")]
    pub max_position_embeddings: i64,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: i64,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub pad_token_id: i64,
}

/// Activation of the feed-forward block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HiddenAct {
    /// Exact (erf) GELU, BERT's default.
    Gelu,
    /// tanh approximation.
    #[serde(alias = "gelu_new", alias = "gelu_pytorch_tanh")]
    GeluApproximate,
    Relu,
}

fn default_act() -> HiddenAct {
    HiddenAct::Gelu
}
fn default_dropout() -> f64 {
    0.1
}
fn default_positions() -> i64 {
    512
}
fn default_type_vocab() -> i64 {
    2
}
fn default_eps() -> f64 {
    1e-12
}

impl BertConfig {
    /// `cbrrel train --encoder-config`: a config.json path, or
    /// `hidden=…,layers=…,heads=…[,intermediate=…,vocab=…]` (vocab defaults to the tokenizer's).
    pub fn from_spec(spec: &str, tokenizer_vocab: usize) -> Result<BertConfig, ModelError> {
        if std::path::Path::new(spec).is_file() {
            return BertConfig::from_file(std::path::Path::new(spec));
        }
        let bad = |m: String| ModelError::Config(format!("--encoder-config{m}"));
        let mut map = std::collections::HashMap::new();
        for part in spec.split(',').filter(|p| !p.trim().is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| bad(format!(" `{part}`: expected key=value")))?;
            let v: i64 = v
                .trim()
                .parse()
                .map_err(|_| bad(format!(" `{part}`: not an integer")))?;
            map.insert(k.trim().to_owned(), v);
        }
        for k in map.keys() {
            if !["hidden", "layers", "heads", "intermediate", "vocab"].contains(&k.as_str()) {
                return Err(bad(format!(": unknown key `{k}`")));
            }
        }
        let get = |k: &str| {
            map.get(k)
                .copied()
                .ok_or_else(|| bad(format!(" needs `{k}=`")))
        };
        let mut cfg = BertConfig::sized(
            map.get("vocab").copied().unwrap_or(tokenizer_vocab as i64),
            get("hidden")?,
            get("layers")?,
            get("heads")?,
        );
        if let Some(i) = map.get("intermediate") {
            cfg.intermediate_size = *i;
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Read a HuggingFace `config.json`.
    pub fn from_file(path: &Path) -> Result<BertConfig, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::Io {
            path: path.to_owned(),
            source: e,
        })?;
        let cfg: BertConfig = serde_json::from_str(&text)
            .map_err(|e| ModelError::Config(format!("{}: {e}", path.display())))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// A randomly initialised encoder of a given shape (`--encoder-config hidden=…`).
    pub fn sized(vocab_size: i64, hidden: i64, layers: i64, heads: i64) -> BertConfig {
        BertConfig {
            vocab_size,
            hidden_size: hidden,
            num_hidden_layers: layers,
            num_attention_heads: heads,
            intermediate_size: 4 * hidden,
            hidden_act: HiddenAct::Gelu,
            hidden_dropout_prob: 0.1,
            attention_probs_dropout_prob: 0.1,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            pad_token_id: 0,
        }
    }

    pub fn validate(&self) -> Result<(), ModelError> {
        if self.hidden_size <= 0
            || self.num_attention_heads <= 0
            || self.hidden_size % self.num_attention_heads != 0
        {
            return Err(ModelError::Config(format!(
                "hidden_size {} must be a positive multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            )));
        }
        if self.vocab_size <= 0 || self.num_hidden_layers < 0 || self.max_position_embeddings <= 0 {
            return Err(ModelError::Config(
                "vocab_size, num_hidden_layers and max_position_embeddings must be positive".into(),
            ));
        }
        Ok(())
    }
}

/// The feature-fusion layer between the subject tagger and the object taggers (§3.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Fusion {
    /// The paper's U-Net: 2-D encoder–decoder with skip connections.
    Unet,
    /// Table 7's "CNN instead of U-Net": two 2-D convolutions, no down/up-sampling.
    Cnn,
    /// No fusion: object taggers read the attention output directly.
    None,
}

/// The CBRRel head around the encoder: one switch per ablation of the paper's Table 7 and the
/// head's sizes. It is both the `[model]` section of `pipeline/train.toml` and the `head` of a
/// run directory's `config.json`, so a setting cannot drift between the two.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadConfig {
    /// BiLSTM after the encoder (eqs. 4–9).
    pub bilstm: bool,
    /// Relative-position attention (eqs. 10–11).
    pub attention: bool,
    /// Heads of the relative-position attention.
    pub attention_heads: i64,
    /// Clip distance k of the relative positions: a^K, a^V are learned for j − i ∈ [−k, k].
    pub max_relative_position: i64,
    pub fusion: Fusion,
    /// Channels of the first U-Net (or CNN) level; doubled at each level down.
    pub fusion_channels: i64,
    /// Width of the object tagger's hidden layer (0: the paper's single linear map; see
    /// `taggers::ObjectTagger` for why a hidden layer helps).
    #[serde(default)]
    pub object_hidden: i64,
    /// Clip distance d of the object tagger's distance feature: a learned vector per token
    /// offset from the subject's start, t − start ∈ [−d, d], added to h_t + v_sub (0: none, the
    /// paper's tagger; see `taggers::ObjectTagger`). Absent in older run directories: 0.
    #[serde(default)]
    pub object_distance: i64,
    /// Dropout of the head (BiLSTM output, attention, taggers).
    pub dropout: f64,
}

impl HeadConfig {
    /// The paper's full model: every module on, the linear object tagger of eq. (15).
    pub fn paper() -> HeadConfig {
        HeadConfig {
            bilstm: true,
            attention: true,
            attention_heads: 8,
            max_relative_position: 16,
            fusion: Fusion::Unet,
            fusion_channels: 8,
            object_hidden: 0,
            object_distance: 0,
            dropout: 0.1,
        }
    }

    /// The head's own constraints, and those it puts on the encoder's hidden size.
    pub fn validate(&self, hidden: i64) -> Result<(), ModelError> {
        if self.bilstm && hidden % 2 != 0 {
            return Err(ModelError::Config(format!(
                "BiLSTM needs an even hidden size, not {hidden}"
            )));
        }
        if self.attention && (self.attention_heads <= 0 || hidden % self.attention_heads != 0) {
            return Err(ModelError::Config(format!(
                "attention_heads {} must divide hidden size {hidden}",
                self.attention_heads
            )));
        }
        if self.object_hidden < 0 || self.object_distance < 0 {
            return Err(ModelError::Config(
                "object_hidden and object_distance must be ≥ 0".into(),
            ));
        }
        if self.max_relative_position < 1 || self.fusion_channels < 1 {
            return Err(ModelError::Config(
                "max_relative_position and fusion_channels must be ≥ 1".into(),
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(ModelError::Config(format!(
                "dropout {} outside [0, 1)",
                self.dropout
            )));
        }
        Ok(())
    }
}

/// The CBRRel model: the encoder, the relation classes and the head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CbrrelConfig {
    pub encoder: BertConfig,
    /// Relation classes (codes) in tagger order.
    pub relations: Vec<String>,
    pub head: HeadConfig,
}

impl CbrrelConfig {
    /// The full model of the paper around `encoder`.
    pub fn full(encoder: BertConfig, relations: Vec<String>) -> CbrrelConfig {
        CbrrelConfig {
            encoder,
            relations,
            head: HeadConfig::paper(),
        }
    }

    pub fn hidden(&self) -> i64 {
        self.encoder.hidden_size
    }

    pub fn n_relations(&self) -> i64 {
        self.relations.len() as i64
    }

    pub fn validate(&self) -> Result<(), ModelError> {
        self.encoder.validate()?;
        if self.relations.is_empty() {
            return Err(ModelError::Config("no relation classes".into()));
        }
        self.head.validate(self.hidden())
    }

    /// Rewrite a serialized config of the old flat layout (head switches beside `encoder`)
    /// into the current one (`head: {…}`), in place, so old run directories keep loading.
    /// A config already in the current layout is left as it is; returns whether it changed.
    pub fn migrate_json(value: &mut serde_json::Value) -> bool {
        let Some(obj) = value.as_object_mut() else {
            return false;
        };
        // The old layout held exactly HeadConfig's fields flat, so its names come from serde.
        let serde_json::Value::Object(fields) =
            serde_json::to_value(HeadConfig::paper()).expect("serialises")
        else {
            unreachable!("a struct serialises to an object")
        };
        if obj.contains_key("head") || !fields.keys().any(|f| obj.contains_key(f)) {
            return false;
        }
        let mut head = serde_json::Map::new();
        for f in fields.keys() {
            if let Some(v) = obj.remove(f) {
                head.insert(f.clone(), v);
            }
        }
        obj.insert("head".to_owned(), serde_json::Value::Object(head));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_flat_config_migrates_to_the_same_model() {
        let current = CbrrelConfig {
            head: HeadConfig {
                object_hidden: 256,
                fusion: Fusion::Cnn,
                ..HeadConfig::paper()
            },
            ..CbrrelConfig::full(
                BertConfig::sized(50, 16, 1, 2),
                vec!["A".into(), "B".into()],
            )
        };
        // The layout run directories of sessions 1–2 wrote.
        let mut legacy = serde_json::json!({
            "encoder": serde_json::to_value(&current.encoder).unwrap(),
            "relations": ["A", "B"],
            "bilstm": true, "attention": true, "attention_heads": 8, "max_relative_position": 16,
            "fusion": "cnn", "fusion_channels": 8, "object_hidden": 256, "dropout": 0.1
        });
        assert!(
            serde_json::from_value::<CbrrelConfig>(legacy.clone()).is_err(),
            "flat layout must not parse unmigrated"
        );
        assert!(CbrrelConfig::migrate_json(&mut legacy));
        assert_eq!(
            serde_json::from_value::<CbrrelConfig>(legacy.clone()).unwrap(),
            current
        );
        // Idempotent, and the current layout round-trips untouched.
        assert!(!CbrrelConfig::migrate_json(&mut legacy));
        let mut now = serde_json::to_value(&current).unwrap();
        assert!(!CbrrelConfig::migrate_json(&mut now));
        assert_eq!(
            serde_json::from_value::<CbrrelConfig>(now).unwrap(),
            current
        );
        // A stray field is still refused, in the head and beside it.
        let mut stray = serde_json::to_value(&current).unwrap();
        stray["head"]["bilstms"] = true.into();
        assert!(serde_json::from_value::<CbrrelConfig>(stray)
            .unwrap_err()
            .to_string()
            .contains("bilstms"));
    }

    #[test]
    fn head_validation_names_the_problem() {
        let h = HeadConfig::paper();
        assert!(h.validate(16).is_ok());
        assert!(h
            .validate(15)
            .unwrap_err()
            .to_string()
            .contains("even hidden size"));
        assert!(HeadConfig {
            attention_heads: 3,
            ..h.clone()
        }
        .validate(16)
        .unwrap_err()
        .to_string()
        .contains("attention_heads 3"));
        assert!(HeadConfig {
            dropout: 1.0,
            ..h.clone()
        }
        .validate(16)
        .is_err());
        assert!(HeadConfig {
            object_hidden: -1,
            ..h.clone()
        }
        .validate(16)
        .is_err());
        assert!(HeadConfig {
            object_distance: -1,
            ..h
        }
        .validate(16)
        .is_err());
    }
}

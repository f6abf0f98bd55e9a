//! The encoder (§3.1): BERT in the HuggingFace `BertModel` layout — embeddings (word +
//! position + token type, LayerNorm, dropout) and N post-LN transformer layers with GELU.
//! Variable names are HF checkpoint keys under a `bert.` prefix, so `checkpoint.rs` maps a
//! HF file onto them one to one (reference: transformers' `modeling_bert.py`, and candle's
//! `candle-transformers/src/models/bert.rs` for the same port in Rust).

use tch::nn::{self, Module};
use tch::{Kind, Tensor};

use super::config::{BertConfig, HiddenAct};

fn layer_norm(p: nn::Path, hidden: i64, eps: f64) -> nn::LayerNorm {
    nn::layer_norm(
        p,
        vec![hidden],
        nn::LayerNormConfig {
            eps,
            ..Default::default()
        },
    )
}

/// Word, position and token-type embeddings.
#[derive(Debug)]
pub struct BertEmbeddings {
    /// Public: FGM perturbs this matrix (§3.2).
    pub word_embeddings: nn::Embedding,
    position_embeddings: nn::Embedding,
    token_type_embeddings: nn::Embedding,
    layer_norm: nn::LayerNorm,
    dropout: f64,
}

impl BertEmbeddings {
    pub fn new(p: nn::Path, cfg: &BertConfig) -> BertEmbeddings {
        let init = nn::EmbeddingConfig {
            ws_init: nn::Init::Randn {
                mean: 0.,
                stdev: 0.02,
            },
            ..Default::default()
        };
        BertEmbeddings {
            word_embeddings: nn::embedding(
                &p / "word_embeddings",
                cfg.vocab_size,
                cfg.hidden_size,
                init,
            ),
            position_embeddings: nn::embedding(
                &p / "position_embeddings",
                cfg.max_position_embeddings,
                cfg.hidden_size,
                init,
            ),
            token_type_embeddings: nn::embedding(
                &p / "token_type_embeddings",
                cfg.type_vocab_size,
                cfg.hidden_size,
                init,
            ),
            layer_norm: layer_norm(&p / "LayerNorm", cfg.hidden_size, cfg.layer_norm_eps),
            dropout: cfg.hidden_dropout_prob,
        }
    }

    /// `input_ids` [B, L] → [B, L, H]. One segment per input, so token types are all 0.
    pub fn forward_t(&self, input_ids: &Tensor, train: bool) -> Tensor {
        let seq_len = input_ids.size()[1];
        let positions = Tensor::arange(seq_len, (Kind::Int64, input_ids.device())).unsqueeze(0);
        let token_types = input_ids.zeros_like();
        let embeddings = self.word_embeddings.forward(input_ids)
            + self.position_embeddings.forward(&positions)
            + self.token_type_embeddings.forward(&token_types);
        self.layer_norm
            .forward(&embeddings)
            .dropout(self.dropout, train)
    }
}

/// One transformer layer: self-attention, add & norm, feed-forward, add & norm.
#[derive(Debug)]
struct BertLayer {
    query: nn::Linear,
    key: nn::Linear,
    value: nn::Linear,
    attention_output: nn::Linear,
    attention_norm: nn::LayerNorm,
    intermediate: nn::Linear,
    output: nn::Linear,
    output_norm: nn::LayerNorm,
    heads: i64,
    act: HiddenAct,
    hidden_dropout: f64,
    attention_dropout: f64,
}

impl BertLayer {
    fn new(p: nn::Path, cfg: &BertConfig) -> BertLayer {
        let h = cfg.hidden_size;
        let lin = nn::LinearConfig {
            ws_init: nn::Init::Randn {
                mean: 0.,
                stdev: 0.02,
            },
            ..Default::default()
        };
        let att = &p / "attention";
        BertLayer {
            query: nn::linear(&att / "self" / "query", h, h, lin),
            key: nn::linear(&att / "self" / "key", h, h, lin),
            value: nn::linear(&att / "self" / "value", h, h, lin),
            attention_output: nn::linear(&att / "output" / "dense", h, h, lin),
            attention_norm: layer_norm(&att / "output" / "LayerNorm", h, cfg.layer_norm_eps),
            intermediate: nn::linear(&p / "intermediate" / "dense", h, cfg.intermediate_size, lin),
            output: nn::linear(&p / "output" / "dense", cfg.intermediate_size, h, lin),
            output_norm: layer_norm(&p / "output" / "LayerNorm", h, cfg.layer_norm_eps),
            heads: cfg.num_attention_heads,
            act: cfg.hidden_act,
            hidden_dropout: cfg.hidden_dropout_prob,
            attention_dropout: cfg.attention_probs_dropout_prob,
        }
    }

    /// `xs` [B, L, H], `attention_bias` [B, 1, 1, L] (0 for tokens, a large negative for padding).
    fn forward_t(&self, xs: &Tensor, attention_bias: &Tensor, train: bool) -> Tensor {
        let (b_sz, seq_len, hidden) = xs.size3().expect("[B, L, H]");
        let head_dim = hidden / self.heads;
        let split = |t: Tensor| {
            t.view([b_sz, seq_len, self.heads, head_dim])
                .transpose(1, 2)
        };
        let query_layer = split(self.query.forward(xs));
        let key_layer = split(self.key.forward(xs));
        let value_layer = split(self.value.forward(xs));
        let attention_scores = query_layer.matmul(&key_layer.transpose(-1, -2))
            / (head_dim as f64).sqrt()
            + attention_bias;
        // Softmax in f32 whatever the activations' dtype (issue 11 §1: under CUDA autocast
        // they are f16, whose exp overflows and whose sums lose the small probabilities),
        // then back to their dtype for the matmul with the values.
        let attention_probs = attention_scores
            .softmax(-1, Kind::Float)
            .to_kind(value_layer.kind())
            .dropout(self.attention_dropout, train);
        let context_layer = attention_probs
            .matmul(&value_layer)
            .transpose(1, 2)
            .contiguous()
            .view([b_sz, seq_len, hidden]);
        let attention_output = self.attention_norm.forward(
            &(self
                .attention_output
                .forward(&context_layer)
                .dropout(self.hidden_dropout, train)
                + xs),
        );
        let intermediate = self.intermediate.forward(&attention_output);
        let intermediate = match self.act {
            HiddenAct::Gelu => intermediate.gelu("none"),
            HiddenAct::GeluApproximate => intermediate.gelu("tanh"),
            HiddenAct::Relu => intermediate.relu(),
        };
        self.output_norm.forward(
            &(self
                .output
                .forward(&intermediate)
                .dropout(self.hidden_dropout, train)
                + attention_output),
        )
    }
}

/// BERT without pooler: token states of the last layer.
#[derive(Debug)]
pub struct BertModel {
    pub embeddings: BertEmbeddings,
    layers: Vec<BertLayer>,
}

impl BertModel {
    /// `p` is the `bert` path: variables are named `bert.embeddings.…`, `bert.encoder.layer.N.…`.
    pub fn new(p: nn::Path, cfg: &BertConfig) -> BertModel {
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| BertLayer::new(&p / "encoder" / "layer" / i, cfg))
            .collect();
        BertModel {
            embeddings: BertEmbeddings::new(&p / "embeddings", cfg),
            layers,
        }
    }

    /// `input_ids` [B, L] (int64), `mask` [B, L] (1 = token, 0 = padding) → [B, L, H] (eq. 3).
    pub fn forward_t(&self, input_ids: &Tensor, mask: &Tensor, train: bool) -> Tensor {
        let mut hidden_states = self.embeddings.forward_t(input_ids, train);
        // Additive mask in the compute dtype: -1e4 stays finite in bf16 as well as f32.
        let attention_bias: Tensor = (mask.to_kind(hidden_states.kind()).ones_like()
            - mask.to_kind(hidden_states.kind()))
            * -10_000.0;
        let attention_bias = attention_bias.unsqueeze(1).unsqueeze(1);
        for layer in &self.layers {
            hidden_states = layer.forward_t(&hidden_states, &attention_bias, train);
        }
        hidden_states
    }
}

"""Golden data for the encoder test (`src/model/golden.rs`): a tiny random HuggingFace BERT
and its last hidden states on fixed inputs, so the Rust `BertModel` can be checked against
what transformers computes.

Rerun from the repository root (after a one-off `.venv/bin/pip install --target /tmp/hfpkgs
transformers`, outside the venv's site-packages; no network is needed at run time):

    PYTHONPATH=/tmp/hfpkgs .venv/bin/python tests/golden/make_encoder_golden.py

The committed files were made with transformers 5.24.0 (safetensors 0.8.0, numpy 2.4.6) on
torch 2.11.0, CPU, one thread. Output is deterministic: a second run rewrites the same bytes.

Writes tests/golden/encoder/:
- config.json, model.safetensors: the model in HF `BertModel.save_pretrained` layout (keys
  without a `bert.` prefix, pooler included, as in real checkpoints).
- golden.safetensors: `padded.input_ids` [3, 11] and `padded.attention_mask` [3, 11] (int64;
  sequences of 11, 7 and 3 tokens, padded with pad_token_id 0), `padded.last_hidden_state`
  [3, 11, 32] (float32; rows at padding positions are whatever HF computes there and are not
  compared); `unpadded.input_ids` [1, 64] (a full-length sequence run with no attention mask)
  and `unpadded.last_hidden_state` [1, 64, 32].

The weights are not HF's default initialisation: that leaves every bias at 0 and every
LayerNorm at weight 1 / bias 0 (so a bias or a LayerNorm the Rust port dropped or swapped would
go unnoticed), and with std 0.02 attention is almost uniform (so a broken mask or head split
would barely show). Every parameter is redrawn instead: matrices N(0, 0.2), biases N(0, 0.1),
LayerNorm weights 1 + N(0, 0.1).
"""

from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import BertConfig, BertModel

OUT = Path(__file__).resolve().parent / "encoder"
SEED = 20240917


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    config = BertConfig(
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        hidden_act="gelu",
        type_vocab_size=2,
        layer_norm_eps=1e-12,
        pad_token_id=0,
    )
    model = BertModel(config)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("LayerNorm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn_like(p))
            else:
                p.copy_(0.2 * torch.randn_like(p))
    model.eval()

    gen = torch.Generator().manual_seed(SEED)
    lengths = [11, 7, 3]
    width = max(lengths)
    input_ids = torch.zeros(len(lengths), width, dtype=torch.int64)
    attention_mask = torch.zeros(len(lengths), width, dtype=torch.int64)
    for row, n in enumerate(lengths):
        input_ids[row, :n] = torch.randint(1, config.vocab_size, (n,), generator=gen)
        attention_mask[row, :n] = 1
    full_ids = torch.randint(
        1, config.vocab_size, (1, config.max_position_embeddings), generator=gen
    )

    def run(implementation: str) -> tuple[torch.Tensor, torch.Tensor]:
        model.set_attn_implementation(implementation)
        with torch.no_grad():
            padded = model(input_ids=input_ids, attention_mask=attention_mask)
            unpadded = model(input_ids=full_ids)
        return padded.last_hidden_state, unpadded.last_hidden_state

    # Stored: the eager path, modeling_bert's plain formula. The default (SDPA) path must agree.
    padded, unpadded = run("eager")
    sdpa_padded, sdpa_unpadded = run("sdpa")
    keep = attention_mask.bool()
    diff = max(
        (padded[keep] - sdpa_padded[keep]).abs().max().item(),
        (unpadded - sdpa_unpadded).abs().max().item(),
    )
    assert diff < 1e-5, f"eager and sdpa differ by {diff}"
    model.set_attn_implementation("eager")

    OUT.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(OUT)
    save_file(
        {
            "padded.input_ids": input_ids.contiguous(),
            "padded.attention_mask": attention_mask.contiguous(),
            "padded.last_hidden_state": padded.float().contiguous(),
            "unpadded.input_ids": full_ids.contiguous(),
            "unpadded.last_hidden_state": unpadded.float().contiguous(),
        },
        OUT / "golden.safetensors",
        metadata={"generator": "tests/golden/make_encoder_golden.py"},
    )
    import transformers

    print(
        f"wrote {OUT} with transformers {transformers.__version__}, "
        f"torch {torch.__version__}; eager vs sdpa max abs diff {diff:.3g}"
    )


if __name__ == "__main__":
    main()

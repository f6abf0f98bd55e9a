"""CBRRel in plain PyTorch: the implementation a user would otherwise pick, side by side with
the Rust one (issue 11 §4).

It builds the same architecture as `src/model/` from a run directory's `config.json` (its
`model` section: encoder sizes, head switches, relations) and loads the run's
`model.safetensors` by the Rust variable names, so both read one set of weights. Only the
project venv's `torch` and `safetensors` are used; nothing touches the network.

Two commands, both driven by the Rust side (tests/model.rs and benches/model_speed.rs), which
writes the batches so that the two implementations see the same tensors:

    python pipeline/torch_reference.py probs --run DIR --batches IN.safetensors --out OUT.safetensors
        For every batch `b{i}.*` of IN (input_ids, mask, and subject spans subjects_batch /
        subjects_start / subjects_end): the subject start/end probabilities [B, L] and the
        object start/end probabilities [N, L, R] for the given subjects, written to OUT under
        `b{i}.subject_start` … `b{i}.object_end`. The golden test compares them with Rust's.

    python pipeline/torch_reference.py flops --run DIR --len L [--subjects S]
        Floating-point operations of one segment of L tokens through the run's architecture
        (config.json only; weights are not read), counted by torch's FlopCounterMode on the
        CPU — matrix products and convolutions, 2 per multiply-add, the convention of model FLOP
        utilisation — per stage, with the object taggers run for S subjects. One JSON line.
        `make gpu-check` divides segments/s × this by the GPU's peak.

    python pipeline/torch_reference.py bench --run DIR --batches IN.safetensors --threads T
        --mode infer|stages|train [--repeat K] [--profile] [--dtype f32|bf16]
        Times what Rust times on the same batches and prints one JSON line: `infer` runs
        prediction as a PyTorch user writes it (no_grad, encoder once per segment, subjects
        decoded on the host with the nearest-end rule, capped, object pass, objects decoded);
        `train` runs the documented training step (eq. 18 loss, backward, FGM on the word
        embeddings, gradient clipping, AdamW with the encoder's and the head's learning rates,
        EMA) with the run's `settings.train`; `stages` runs the model alone (encoder stack, then
        the object taggers on the batch's gold subjects) with every stage timed. `--profile`
        adds seconds per stage (encoder, bilstm, attention, subject tagger, fusion, object
        taggers, decoding). `--dtype bf16` predicts with the weights in bf16 (softmax and
        probabilities in f32), as `cbrrel predict --precision bf16` does.

Equations are the paper's (paper-cbrrel.md); the Rust file implementing each is named in its
class's docstring.
"""

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path

# The venv holds torch without numpy (nothing here needs it); torch says so once on import.
warnings.filterwarnings("ignore", message="Failed to initialize NumPy")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402


def load_file(path):
    # Imported when used: `flops` needs only torch (a GPU machine's torch venv has no safetensors).
    from safetensors.torch import load_file as load

    return load(path)


def save_file(tensors, path):
    from safetensors.torch import save_file as save

    save(tensors, path)


# --- the model -----------------------------------------------------------------------------


class Embeddings(nn.Module):
    """Word + position + token-type embeddings, LayerNorm, dropout (src/model/encoder.rs)."""

    def __init__(self, cfg):
        super().__init__()
        h = cfg["hidden_size"]
        self.word_embeddings = nn.Embedding(cfg["vocab_size"], h)
        self.position_embeddings = nn.Embedding(cfg.get("max_position_embeddings", 512), h)
        self.token_type_embeddings = nn.Embedding(cfg.get("type_vocab_size", 2), h)
        self.LayerNorm = nn.LayerNorm(h, eps=cfg.get("layer_norm_eps", 1e-12))
        self.dropout = cfg.get("hidden_dropout_prob", 0.1)

    def forward(self, ids):
        pos = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
        x = (
            self.word_embeddings(ids)
            + self.position_embeddings(pos)
            + self.token_type_embeddings(torch.zeros_like(ids))
        )
        return F.dropout(self.LayerNorm(x), self.dropout, self.training)


class BertLayer(nn.Module):
    """Post-LN transformer layer, HF `BertLayer` (eq. 3; src/model/encoder.rs). Submodules are
    named so that the state-dict keys are HF's (`attention.self_` stands for `attention.self`)."""

    def __init__(self, cfg):
        super().__init__()
        h, i = cfg["hidden_size"], cfg["intermediate_size"]
        eps = cfg.get("layer_norm_eps", 1e-12)
        self.attention = nn.Module()
        self.attention.self_ = nn.Module()
        self.attention.self_.query = nn.Linear(h, h)
        self.attention.self_.key = nn.Linear(h, h)
        self.attention.self_.value = nn.Linear(h, h)
        self.attention.output = nn.Module()
        self.attention.output.dense = nn.Linear(h, h)
        self.attention.output.LayerNorm = nn.LayerNorm(h, eps=eps)
        self.intermediate = nn.Module()
        self.intermediate.dense = nn.Linear(h, i)
        self.output = nn.Module()
        self.output.dense = nn.Linear(i, h)
        self.output.LayerNorm = nn.LayerNorm(h, eps=eps)
        self.heads = cfg["num_attention_heads"]
        act = cfg.get("hidden_act", "gelu")
        self.act = {
            "gelu": lambda t: F.gelu(t),
            "gelu_approximate": lambda t: F.gelu(t, approximate="tanh"),
            "gelu_new": lambda t: F.gelu(t, approximate="tanh"),
            "gelu_pytorch_tanh": lambda t: F.gelu(t, approximate="tanh"),
            "relu": F.relu,
        }[act]
        self.hidden_dropout = cfg.get("hidden_dropout_prob", 0.1)
        self.attention_dropout = cfg.get("attention_probs_dropout_prob", 0.1)

    def forward(self, x, bias):
        b, l, h = x.shape
        d = h // self.heads
        sa = self.attention.self_

        def split(t):
            return t.view(b, l, self.heads, d).transpose(1, 2)

        q, k, v = split(sa.query(x)), split(sa.key(x)), split(sa.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d) + bias
        probs = torch.softmax(scores.float(), -1).to(v.dtype)
        probs = F.dropout(probs, self.attention_dropout, self.training)
        ctx = (probs @ v).transpose(1, 2).reshape(b, l, h)
        out = self.attention.output
        a = out.LayerNorm(F.dropout(out.dense(ctx), self.hidden_dropout, self.training) + x)
        i = self.act(self.intermediate.dense(a))
        o = F.dropout(self.output.dense(i), self.hidden_dropout, self.training)
        return self.output.LayerNorm(o + a)


class Bert(nn.Module):
    """BERT without pooler: the last layer's token states (eq. 3)."""

    def __init__(self, cfg):
        super().__init__()
        self.embeddings = Embeddings(cfg)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList(
            BertLayer(cfg) for _ in range(cfg["num_hidden_layers"])
        )

    def forward(self, ids, mask):
        x = self.embeddings(ids)
        m = mask.to(x.dtype)
        bias = ((1.0 - m) * -10_000.0)[:, None, None, :]
        for layer in self.encoder.layer:
            x = layer(x, bias)
        return x


class BiLstm(nn.Module):
    """Eqs. 4–9 (src/model/bilstm.rs): two H/2 LSTMs; the backward one reads each sequence
    reversed within its own length, so padding never reaches a real token's state."""

    def __init__(self, h, dropout):
        super().__init__()
        self.fwd = nn.LSTM(h, h // 2, batch_first=True)
        self.bwd = nn.LSTM(h, h // 2, batch_first=True)
        self.dropout = dropout

    def forward(self, x, mask):
        l = x.shape[1]
        lengths = mask.sum(1, keepdim=True)
        t = torch.arange(l, device=x.device).unsqueeze(0)
        index = torch.where(t < lengths, lengths - 1 - t, t.expand(x.shape[0], l))
        index = index.unsqueeze(-1)

        def flip(s):
            return s.gather(1, index.expand(-1, -1, s.shape[2]))

        f, _ = self.fwd(x)
        r, _ = self.bwd(flip(x))
        out = torch.cat([f, flip(r)], 2) * mask.unsqueeze(-1).to(x.dtype)
        return F.dropout(out, self.dropout, self.training)


class RelPosAttention(nn.Module):
    """Shaw relative-position attention, eqs. 10–11 (src/model/rel_attention.rs)."""

    def __init__(self, h, heads, clip, dropout):
        super().__init__()
        d = h // heads
        self.query, self.key, self.value, self.output = (nn.Linear(h, h) for _ in range(4))
        self.rel_key = nn.Parameter(torch.zeros(2 * clip + 1, d))
        self.rel_value = nn.Parameter(torch.zeros(2 * clip + 1, d))
        self.LayerNorm = nn.LayerNorm(h)
        self.heads, self.clip, self.dropout = heads, clip, dropout

    def forward(self, x, mask):
        b, l, h = x.shape
        d = h // self.heads

        def split(t):
            return t.view(b, l, self.heads, d).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        pos = torch.arange(l, device=x.device)
        idx = (pos[None, :] - pos[:, None]).clamp(-self.clip, self.clip) + self.clip
        a_k = self.rel_key[idx].to(q.dtype)  # [L, L, d]
        a_v = self.rel_value[idx].to(q.dtype)
        scores = (q @ k.transpose(-1, -2) + torch.einsum("bhid,ijd->bhij", q, a_k)) / math.sqrt(d)
        key_bias = ((1.0 - mask.to(scores.dtype)) * -10_000.0).view(b, 1, 1, l)
        probs = torch.softmax((scores + key_bias).float(), -1).to(q.dtype)
        probs = F.dropout(probs, self.dropout, self.training)
        ctx = probs @ v + torch.einsum("bhij,ijd->bhid", probs, a_v)
        ctx = ctx.transpose(1, 2).reshape(b, l, h)
        return self.LayerNorm(F.dropout(self.output(ctx), self.dropout, self.training) + x)


def conv3(i, o):
    return nn.Conv2d(i, o, 3, padding=1)


class UNet2d(nn.Module):
    """Feature fusion, §3.6 as DESIGN.md reads it (src/model/unet.rs): the [L × H] map as a
    one-channel image, two poolings down, two transposed convolutions up with skips, a 1×1
    projection added back, LayerNorm; L and H padded to multiples of 4, padding masked."""

    def __init__(self, h, c):
        super().__init__()
        self.enc1, self.enc2, self.bottleneck = conv3(1, c), conv3(c, 2 * c), conv3(2 * c, 4 * c)
        self.up2 = nn.ConvTranspose2d(4 * c, 2 * c, 2, stride=2)
        self.dec2 = conv3(4 * c, 2 * c)
        self.up1 = nn.ConvTranspose2d(2 * c, c, 2, stride=2)
        self.dec1 = conv3(2 * c, c)
        self.project = nn.Conv2d(c, 1, 1)
        self.LayerNorm = nn.LayerNorm(h)

    def forward(self, x, mask):
        b, l, h = x.shape
        pad_l, pad_h = (4 - l % 4) % 4, (4 - h % 4) % 4
        m = mask.to(x.dtype)
        m1 = F.pad(m, (0, pad_l)).view(b, 1, -1, 1)
        m2 = F.max_pool2d(m1, (2, 1), (2, 1))
        m3 = F.max_pool2d(m2, (2, 1), (2, 1))
        img = F.pad((x * m.unsqueeze(-1)).unsqueeze(1), (0, pad_h, 0, pad_l))
        e1 = F.relu(self.enc1(img)) * m1
        e2 = F.relu(self.enc2(F.max_pool2d(e1, 2, 2))) * m2
        bt = F.relu(self.bottleneck(F.max_pool2d(e2, 2, 2))) * m3
        d2 = F.relu(self.dec2(torch.cat([self.up2(bt), e2], 1))) * m2
        d1 = F.relu(self.dec1(torch.cat([self.up1(d2), e1], 1))) * m1
        out = self.project(d1).squeeze(1)[:, :l, :h]
        return self.LayerNorm(x + out)


class Cnn2d(nn.Module):
    """Table 7's "CNN instead of U-Net" ablation (src/model/unet.rs)."""

    def __init__(self, h, c):
        super().__init__()
        self.conv1, self.conv2 = conv3(1, c), conv3(c, 1)
        self.LayerNorm = nn.LayerNorm(h)

    def forward(self, x, mask):
        m = mask.to(x.dtype)
        img = (x * m.unsqueeze(-1)).unsqueeze(1)
        hid = F.relu(self.conv1(img)) * m[:, None, :, None]
        return self.LayerNorm(x + self.conv2(hid).squeeze(1))


class ObjectTagger(nn.Module):
    """Relation-specific object taggers, eqs. 15–16 (src/model/taggers.rs): the subject's
    mean start/end state added to every token, an optional GELU layer, 2·R sigmoids."""

    def __init__(self, h, hidden, n_rel, distance=0):
        super().__init__()
        self.hidden = nn.Linear(h, hidden) if hidden > 0 else None
        # The distance feature: a vector per token offset from the subject's start, clipped.
        self.distance = nn.Embedding(2 * distance + 1, h) if distance > 0 else None
        self.clip = distance
        self.output = nn.Linear(hidden if hidden > 0 else h, 2 * n_rel)
        self.n_rel = n_rel

    def forward(self, fused, sb, ss, se):
        states = fused[sb]  # [N, L, H]
        n = torch.arange(states.shape[0], device=states.device)
        v_sub = ((states[n, ss] + states[n, se]) / 2.0).unsqueeze(1)
        x = states + v_sub
        if self.distance is not None:
            positions = torch.arange(states.shape[1], device=states.device)
            offset = (positions.unsqueeze(0) - ss.unsqueeze(1)).clamp(-self.clip, self.clip) + self.clip
            x = x + self.distance(offset)
        if self.hidden is not None:
            x = F.gelu(self.hidden(x))
        logits = self.output(x).view(x.shape[0], x.shape[1], self.n_rel, 2)
        return logits[..., 0], logits[..., 1]


class Cbrrel(nn.Module):
    """Encoder → BiLSTM → attention → subject tagger; → fusion → object taggers
    (src/model/cbrrel.rs). Switches from config.json's `model.head` (all off = CasRel)."""

    def __init__(self, model_cfg):
        super().__init__()
        enc, head = model_cfg["encoder"], model_cfg["head"]
        h = enc["hidden_size"]
        self.bert = Bert(enc)
        self.head = nn.Module()
        self.head.bilstm = BiLstm(h, head["dropout"]) if head["bilstm"] else None
        self.head.attention = (
            RelPosAttention(h, head["attention_heads"], head["max_relative_position"], head["dropout"])
            if head["attention"]
            else None
        )
        self.head.subject = nn.Linear(h, 2)
        fusion = head["fusion"]
        c = head["fusion_channels"]
        self.head.fusion = {"unet": lambda: UNet2d(h, c), "cnn": lambda: Cnn2d(h, c), "none": lambda: None}[
            fusion
        ]()
        self.head.object = ObjectTagger(
            h, head.get("object_hidden", 0), len(model_cfg["relations"]), head.get("object_distance", 0)
        )
        self.dropout = head["dropout"]
        self.stage_seconds = None  # a dict when profiling

    def _timed(self, name, fn):
        if self.stage_seconds is None:
            return fn()
        t = time.perf_counter()
        out = fn()
        self.stage_seconds[name] = self.stage_seconds.get(name, 0.0) + time.perf_counter() - t
        return out

    def encode(self, ids, mask):
        """Subject logits (eqs. 12–13) and the fused states the object taggers read."""
        x = self._timed("encoder", lambda: self.bert(ids, mask))
        if self.head.bilstm is not None:
            x = self._timed("bilstm", lambda: self.head.bilstm(x, mask))
        if self.head.attention is not None:
            x = self._timed("attention", lambda: self.head.attention(x, mask))
        logits = self._timed("subject tagger", lambda: self.head.subject(x))
        if self.head.fusion is not None:
            x = self._timed("fusion", lambda: self.head.fusion(x, mask))
        return logits[..., 0], logits[..., 1], x

    def objects(self, fused, sb, ss, se):
        fused = F.dropout(fused, self.dropout, self.training)
        return self._timed("object taggers", lambda: self.head.object(fused, sb, ss, se))


def rust_key(python_key, object_hidden):
    """The Rust variable name of a state-dict key: Python reserves `self` and `forward`, and
    without a hidden layer the Rust object tagger's linear layer sits at `head.object` itself."""
    key = (
        python_key.replace(".self_.", ".self.")
        .replace("head.bilstm.fwd.", "head.bilstm.forward.")
        .replace("head.bilstm.bwd.", "head.bilstm.backward.")
    )
    if object_hidden == 0:
        key = key.replace("head.object.output.", "head.object.")
    return key


def load_run(run_dir):
    """The run's config.json and its model with the run's weights (every key used, none missing)."""
    run_dir = Path(run_dir)
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    model = Cbrrel(config["model"])
    weights = load_file(str(run_dir / "model.safetensors"))
    hidden = config["model"]["head"].get("object_hidden", 0)
    missing = [rust_key(k, hidden) for k in model.state_dict() if rust_key(k, hidden) not in weights]
    if missing:
        raise SystemExit(f"{run_dir / 'model.safetensors'} lacks {missing}")
    state = {k: weights.pop(rust_key(k, hidden)) for k in model.state_dict()}
    if weights:
        raise SystemExit(f"weights the reference model has no place for: {sorted(weights)}")
    model.load_state_dict(state, strict=True)
    return config, model


# --- batches written by the Rust side ------------------------------------------------------


def read_batches(path):
    tensors = load_file(str(path))
    count = 1 + max(int(k.split(".")[0][1:]) for k in tensors)
    return [{k.split(".", 1)[1]: v for k, v in tensors.items() if k.startswith(f"b{i}.")} for i in range(count)]


def probs_command(args):
    _, model = load_run(args.run)
    model.eval()
    out = {}
    with torch.no_grad():
        for i, b in enumerate(read_batches(args.batches)):
            s_start, s_end, fused = model.encode(b["input_ids"], b["mask"])
            out[f"b{i}.subject_start"] = torch.sigmoid(s_start).contiguous()
            out[f"b{i}.subject_end"] = torch.sigmoid(s_end).contiguous()
            o_start, o_end = model.objects(fused, b["subjects_batch"], b["subjects_start"], b["subjects_end"])
            out[f"b{i}.object_start"] = torch.sigmoid(o_start).contiguous()
            out[f"b{i}.object_end"] = torch.sigmoid(o_end).contiguous()
    save_file(out, args.out)


# --- prediction and training as a PyTorch user writes them ---------------------------------


def decode_spans(p_start, p_end, length, th):
    """Nearest-end rule (src/infer/decode.rs) over real tokens 1..length-1: a start at or over
    the threshold closes at the first end at or after it; (start, end, confidence)."""
    starts = torch.nonzero(p_start[1 : length - 1] >= th).flatten().tolist()
    if not starts:
        return []
    ends = torch.nonzero(p_end[1 : length - 1] >= th).flatten().tolist()
    spans, j = [], 0
    for s in starts:
        while j < len(ends) and ends[j] < s:
            j += 1
        if j < len(ends):
            e = ends[j]
            spans.append((s + 1, e + 1, math.sqrt(float(p_start[s + 1]) * float(p_end[e + 1]))))
    return spans


def predict_batch(model, b, thresholds):
    """One batch: subjects, then every subject's objects in one pass; (subject, relation,
    object) token spans per segment of the batch."""
    th_s, th_o = thresholds["subject"], thresholds["object"]
    cap = thresholds.get("max_subjects", 64)
    chunk = max(1, thresholds.get("subject_chunk", 256))
    ids, mask = b["input_ids"], b["mask"]
    s_start, s_end, fused = model.encode(ids, mask)
    # Probabilities in f32 whatever the model's dtype (as src/infer/predict.rs takes them).
    ps, pe = torch.sigmoid(s_start.float()), torch.sigmoid(s_end.float())
    lengths = mask.sum(1).tolist()
    t = time.perf_counter()
    subjects = []
    for row, length in enumerate(lengths):
        found = decode_spans(ps[row], pe[row], length, th_s)
        if len(found) > cap:
            keep = sorted(sorted(range(len(found)), key=lambda k: -found[k][2])[:cap])
            found = [found[k] for k in keep]
        subjects.extend((row, s, e) for s, e, _ in found)
    decode_seconds = time.perf_counter() - t
    triples = [[] for _ in lengths]
    for at in range(0, len(subjects), chunk):
        part = subjects[at : at + chunk]
        sb = torch.tensor([p[0] for p in part])
        ss = torch.tensor([p[1] for p in part])
        se = torch.tensor([p[2] for p in part])
        o_start, o_end = model.objects(fused, sb, ss, se)
        # [N, L, R] → [N, R, L]: one contiguous row per (subject, relation).
        po = torch.sigmoid(o_start.float()).permute(0, 2, 1).contiguous()
        pq = torch.sigmoid(o_end.float()).permute(0, 2, 1).contiguous()
        t = time.perf_counter()
        for n, (row, s, e) in enumerate(part):
            for r in range(po.shape[1]):
                for os_, oe, _ in decode_spans(po[n, r], pq[n, r], lengths[row], th_o):
                    triples[row].append(((s, e), r, (os_, oe)))
        decode_seconds += time.perf_counter() - t
    if model.stage_seconds is not None:
        model.stage_seconds["decoding"] = model.stage_seconds.get("decoding", 0.0) + decode_seconds
    return triples


def masked_bce(logits, target, mask):
    per = F.binary_cross_entropy_with_logits(logits.float(), target, reduction="none")
    m = mask.float().expand_as(per)
    return (per * m).sum() / m.sum().clamp_min(1.0)


def masked_bce_sum_last(logits, target, mask):
    per = F.binary_cross_entropy_with_logits(logits.float(), target, reduction="none").sum(-1)
    m = mask.float()
    return (per * m).sum() / m.sum().clamp_min(1.0)


def loss_of(model, b):
    """Eq. 18 (src/model/loss.rs): subject BCE averaged over tokens, object BCE summed over
    relations then averaged over each subject's tokens."""
    s_start, s_end, fused = model.encode(b["input_ids"], b["mask"])
    loss = masked_bce(s_start, b["subject_start"], b["mask"]) + masked_bce(s_end, b["subject_end"], b["mask"])
    if b["subjects_batch"].numel() > 0:
        o_start, o_end = model.objects(fused, b["subjects_batch"], b["subjects_start"], b["subjects_end"])
        loss = (
            loss
            + masked_bce_sum_last(o_start, b["object_start"], b["object_mask"])
            + masked_bce_sum_last(o_end, b["object_end"], b["object_mask"])
        )
    return loss


class Trainer:
    """The training step of src/train/trainer.rs: AdamW (encoder and head groups), FGM (§3.2),
    gradient clipping, EMA with the warm-up decay of src/train/ema.rs."""

    def __init__(self, model, train_cfg, fused=False, fgm_rows=False):
        self.model, self.cfg = model, train_cfg
        # FGM as usually written perturbs the whole embedding matrix; --fgm rows is the same
        # lever as src/train/fgm.rs (only the rows the batch looked up: the gradient is 0 on the
        # others, so the perturbation is too).
        self.fgm_rows = fgm_rows
        encoder = [p for n, p in model.named_parameters() if n.startswith("bert.")]
        head = [p for n, p in model.named_parameters() if not n.startswith("bert.")]
        self.opt = torch.optim.AdamW(
            [{"params": encoder, "lr": train_cfg["lr"]}, {"params": head, "lr": train_cfg["head_lr"]}],
            weight_decay=train_cfg["weight_decay"],
            # PyTorch's default on the CPU is the per-weight loop (fused=None); --adamw fused is
            # the same lever as `train.fused_adamw` on the Rust side (src/train/adamw.rs).
            fused=fused or None,
        )
        self.params = list(model.parameters())
        self.shadow = [p.detach().clone() for p in self.params] if train_cfg.get("ema", True) else None
        self.updates = 0
        self.word = model.bert.embeddings.word_embeddings.weight

    def step(self, b):
        cfg = self.cfg
        self.opt.zero_grad(set_to_none=True)
        loss = loss_of(self.model, b)
        loss.backward()
        if cfg.get("fgm", True) and self.word.grad is not None:
            # The whole matrix as FGM is usually written, or only the batch's rows (--fgm rows).
            rows = torch.unique(b["input_ids"]) if self.fgm_rows else None
            g = self.word.grad if rows is None else self.word.grad.index_select(0, rows)
            norm = g.norm()
            if torch.isfinite(norm) and norm > 0:
                r = g * (cfg["fgm_epsilon"] / norm)
                with torch.no_grad():
                    if rows is None:
                        backup = self.word.detach().clone()
                        self.word.add_(r)
                    else:
                        backup = self.word.detach().index_select(0, rows)
                        self.word.index_add_(0, rows, r)
                loss_of(self.model, b).backward()
                with torch.no_grad():
                    if rows is None:
                        self.word.copy_(backup)
                    else:
                        self.word.index_copy_(0, rows, backup)
        norm = torch.nn.utils.clip_grad_norm_(self.params, cfg["max_grad_norm"])
        if not torch.isfinite(norm):
            self.opt.zero_grad(set_to_none=True)
            return float("nan")
        self.opt.step()
        if self.shadow is not None:
            d = min(cfg["ema_decay"], (1.0 + self.updates) / (10.0 + self.updates))
            with torch.no_grad():
                torch._foreach_lerp_(self.shadow, [p.detach() for p in self.params], 1.0 - d)
            self.updates += 1
        return float(loss.detach())


def timed_passes(model, batches, repeat, work):
    """`work(batch)` once to warm up, then `repeat` timed passes over `batches` (the stage
    times count the timed passes only); the seconds and the sum of what `work` returned."""
    work(batches[0])
    if model.stage_seconds is not None:
        model.stage_seconds.clear()
    t = time.perf_counter()
    total = 0
    for _ in range(repeat):
        for b in batches:
            total += work(b)
    return time.perf_counter() - t, total


def bench_command(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config, model = load_run(args.run)
    if args.dtype == "bf16":
        if args.mode == "train":
            raise SystemExit("--dtype bf16 is for prediction (training runs in f32)")
        # The same lever as `--precision bf16` on the Rust side: weights and activations in
        # bf16, softmax and probabilities in f32.
        model.to(torch.bfloat16)
    batches = read_batches(args.batches)
    if args.profile:
        model.stage_seconds = {}
    segments = sum(b["input_ids"].shape[0] for b in batches)
    result = {"threads": args.threads, "mode": args.mode, "batches": len(batches), "segments": segments}
    if args.mode == "infer":
        model.eval()
        thresholds = config["thresholds"]

        def work(b):
            return sum(len(x) for x in predict_batch(model, b, thresholds))

        with torch.inference_mode():
            secs, triples = timed_passes(model, batches, args.repeat, work)
        result.update(seconds=secs, per_second=segments * args.repeat / secs, triples=triples // args.repeat)
    elif args.mode == "stages":
        # The model's work without decoding: encoder stack, object taggers on the gold subjects.
        model.eval()
        model.stage_seconds = {}

        def work(b):
            _, _, fused = model.encode(b["input_ids"], b["mask"])
            o_start, o_end = model.objects(fused, b["subjects_batch"], b["subjects_start"], b["subjects_end"])
            start = time.perf_counter()
            torch.sigmoid(o_start).sum(), torch.sigmoid(o_end).sum()
            seconds = model.stage_seconds
            seconds["object taggers"] = seconds.get("object taggers", 0.0) + time.perf_counter() - start
            return 0

        with torch.inference_mode():
            secs, _ = timed_passes(model, batches, args.repeat, work)
        result.update(seconds=secs, per_second=segments * args.repeat / secs)
    else:
        model.train()
        trainer = Trainer(model, config["settings"]["train"], fused=args.adamw == "fused", fgm_rows=args.fgm == "rows")

        def work(b):
            trainer.step(b)
            return 1

        secs, steps = timed_passes(model, batches, args.repeat, work)
        result.update(seconds=secs, per_second=steps / secs, steps=steps)
    if model.stage_seconds is not None:
        result["stages"] = model.stage_seconds
    print(json.dumps(result))


def count_flops(fn):
    """Matrix-product and convolution FLOPs of `fn()` (torch.utils.flop_counter)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        out = fn()
    return out, counter.get_total_flops()


def lstm_flops(h, length):
    """Two LSTMs of H/2 units over `length` tokens: per token and direction the four gates'
    input and recurrent products, 2·4·(H/2)·(H + H/2). Counted by formula because the CPU's
    fused LSTM kernel is one operator that FlopCounterMode does not see into."""
    d = h // 2
    return 2 * (2 * 4 * d * (h + d)) * length


def flops_command(args):
    """FLOPs of one segment through the run's architecture, per stage (random weights)."""
    config = json.loads((Path(args.run) / "config.json").read_text(encoding="utf-8"))
    torch.manual_seed(0)
    model = Cbrrel(config["model"]).eval()
    length, n_sub = args.len, max(args.subjects, 0)
    ids = torch.randint(1, config["model"]["encoder"]["vocab_size"], (1, length))
    mask = torch.ones(1, length, dtype=torch.long)
    stages = {}
    with torch.no_grad():
        x, stages["encoder"] = count_flops(lambda: model.bert(ids, mask))
        if model.head.bilstm is not None:
            x, counted = count_flops(lambda: model.head.bilstm(x, mask))
            stages["bilstm"] = max(counted, lstm_flops(x.shape[2], length))
        if model.head.attention is not None:
            x, stages["attention"] = count_flops(lambda: model.head.attention(x, mask))
        _, stages["subject tagger"] = count_flops(lambda: model.head.subject(x))
        if model.head.fusion is not None:
            x, stages["fusion"] = count_flops(lambda: model.head.fusion(x, mask))
        if n_sub > 0:
            sb = torch.zeros(n_sub, dtype=torch.long)
            se = torch.arange(n_sub) % length
            _, stages["object taggers"] = count_flops(lambda: model.head.object(x, sb, se, se))
    print(
        json.dumps(
            {
                "len": length,
                "subjects": n_sub,
                "flops_per_segment": sum(stages.values()),
                "stages": stages,
            }
        )
    )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    pr = sub.add_parser("probs", help="subject and object probabilities of each batch")
    pr.add_argument("--run", required=True)
    pr.add_argument("--batches", required=True)
    pr.add_argument("--out", required=True)
    be = sub.add_parser("bench", help="time prediction or training on the batches")
    be.add_argument("--run", required=True)
    be.add_argument("--batches", required=True)
    be.add_argument("--threads", type=int, default=torch.get_num_threads())
    be.add_argument("--mode", choices=["infer", "stages", "train"], required=True)
    be.add_argument("--repeat", type=int, default=1)
    be.add_argument("--profile", action="store_true")
    be.add_argument("--dtype", choices=["f32", "bf16"], default="f32", help="the model's weights and activations (infer, stages)")
    be.add_argument("--adamw", choices=["plain", "fused"], default="plain", help="PyTorch's default AdamW or AdamW(fused=True) (train)")
    be.add_argument("--fgm", choices=["dense", "rows"], default="dense", help="FGM on the whole embedding matrix, or on the batch's rows as src/train/fgm.rs (train)")
    fl = sub.add_parser("flops", help="FLOPs of one segment of the run's architecture, per stage")
    fl.add_argument("--run", required=True)
    fl.add_argument("--len", type=int, required=True, help="tokens in the segment, [CLS]/[SEP] included")
    fl.add_argument("--subjects", type=int, default=1, help="subjects through the object taggers")
    args = p.parse_args(argv)
    if args.command == "flops":
        torch.set_num_threads(1)
        flops_command(args)
    elif args.command == "probs":
        torch.set_num_threads(1)
        probs_command(args)
    else:
        bench_command(args)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Independent plain-torch reference for Hugging Face Llama-family causal LMs.

Written without transformers and without looking at safesift's TypeScript code, so that
parity tests compare two independent implementations. Every example runs alone
(batch size 1, no padding).

Usage
  python3 llama_reference.py REQUEST.json OUT.bin
  python3 llama_reference.py --paper-scores REQUEST.json OUT.json

Request (default mode)
  {"model_dir": str, "dtype": "float64" | "float32" (default "float64"),
   "examples": [{"ids": [int...], "weights": [float...]}],
   "want": subset of ["logits", "representation", "loss", "grad_lm_head", "grad_all",
           "layer_states"] (default ["logits", "representation", "loss"]),
   "lm_head_only_classifier": bool (default true),
   "layers": [int...] (0-based decoder layers for layer_states; default [])}
  weights[t] is the loss weight of predicting ids[t] from position t-1 (weights[0] must be 0);
  loss = sum_t weights[t] * CE(logits[t-1], ids[t]).

Outputs per example
  logits          [T, V]
  representation  [D]     final-norm hidden state at the last position
  loss            number  (inline in the header, full double precision of the working dtype)
  grad_lm_head    [V, D]  d loss / d LM-head weight. With lm_head_only_classifier (default) the
                          head is a separate leaf, i.e. the classifier path only, even for tied
                          models; with false, a tied model reports the shared tensor's full
                          gradient (embedding path + classifier path).
  grad_all        {HF tensor name: tensor}  gradient for every parameter; a tied model has only
                          model.embed_tokens.weight (both paths summed) and no lm_head.weight.
  layer_states    [2L, D] per requested layer l (in request order) of the residual stream after
                          layer l (HF hidden_states[l+1], before the final norm): the state at
                          position p-1, p the first t with weights[t] > 0 (the last prompt
                          token), then sum_t weights[t] * state[t] (the response mean).

Output file (default mode)
  bytes 0..8   little-endian u64 N = header length in bytes
  bytes 8..8+N UTF-8 JSON header {"examples": [{key: entry, ...}, ...]} where a tensor entry is
               {"dtype": "float32", "shape": [...], "offset": int, "length": int}
               (offset and length in BYTES, offset relative to the start of the data section),
               "loss" is a plain number and "grad_all" maps tensor names to tensor entries.
               The header is space-padded so that the data section starts at a multiple of 8.
  then         the data section: raw little-endian float32 (results are cast to float32 for
               output even when computed in float64).

--paper-scores mode (method.md section 3, batch size 1, full gradient, no projection)
  request {"model_dir", "dtype", "examples": [...], "anchor_sets": [{"weight": float,
  "examples": [...]}]}; every example's gradient over all parameters (tied tensor once) is
  flattened and L2-normalised; each set's target is the mean of its normalised anchor
  gradients (not re-normalised); score = sum_sets weight * dot(g_normalised, target).
  Output JSON {"scores": [float | null, ...]} (null when an example's gradient is zero).

Numerics: everything, RMSNorm and softmax included, runs in the working dtype (HF upcasts
those to float32, which only matters below float32); RoPE angles are computed in float64 and
then cast.
"""

import json
import math
import mmap
import os
import struct
import sys

import torch

ST_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64}
WANT_ALL = ("logits", "representation", "loss", "grad_lm_head", "grad_all", "layer_states")


# ---------------------------------------------------------------- safetensors

def read_safetensors(path, dtype):
    """Return {name: tensor in dtype}. Own reader: u64 LE header length, JSON header, raw data."""
    out = {}
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n).decode("utf-8"))
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    base = 8 + n
    for name, info in header.items():
        if name == "__metadata__":
            continue
        st = info["dtype"]
        if st not in ST_DTYPES:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {st}")
        shape = info["shape"]
        begin, end = info["data_offsets"]
        count = math.prod(shape)
        if count == 0:
            t = torch.zeros(shape, dtype=ST_DTYPES[st])
        else:
            t = torch.frombuffer(mm, dtype=ST_DTYPES[st], count=count, offset=base + begin)
            if t.numel() * t.element_size() != end - begin:
                raise ValueError(f"{path}: tensor {name} byte range does not match its shape")
            t = t.reshape(shape)
        out[name] = t.to(dtype).clone()  # clone: never keep views into the mmap
    return out


def load_checkpoint(model_dir, dtype):
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    tensors = {}
    for name in files:
        tensors.update(read_safetensors(os.path.join(model_dir, name), dtype))
    return tensors


# ---------------------------------------------------------------- model

class Model:
    def __init__(self, model_dir, dtype):
        with open(os.path.join(model_dir, "config.json")) as f:
            cfg = json.load(f)
        self.dtype = dtype
        self.n_layers = cfg["num_hidden_layers"]
        self.n_heads = cfg["num_attention_heads"]
        self.n_kv = cfg.get("num_key_value_heads") or self.n_heads
        self.head_dim = cfg.get("head_dim") or cfg["hidden_size"] // self.n_heads
        self.eps = cfg.get("rms_norm_eps", 1e-6)
        act = cfg.get("hidden_act", "silu")
        if act != "silu":
            raise ValueError(f"unsupported hidden_act {act}")
        self.inv_freq = rope_inv_freq(cfg, self.head_dim)
        tensors = load_checkpoint(model_dir, dtype)
        # Non-parameter buffers some old checkpoints carry.
        tensors = {k: v for k, v in tensors.items() if not k.endswith("rotary_emb.inv_freq")}
        self.tied = "lm_head.weight" not in tensors or bool(cfg.get("tie_word_embeddings", False))
        if self.tied:
            tensors.pop("lm_head.weight", None)
        self.params = tensors  # HF names -> tensors; the model's parameters

    def head_name(self):
        return "model.embed_tokens.weight" if self.tied else "lm_head.weight"

    def rope(self, T):
        pos = torch.arange(T, dtype=torch.float64)
        ang = torch.outer(pos, self.inv_freq)
        emb = torch.cat([ang, ang], dim=-1)
        return emb.cos().to(self.dtype), emb.sin().to(self.dtype)

    def hidden(self, p, ids, residuals=None):
        """Final-norm hidden states [T, D] for one sequence, with parameters from dict p.
        With a list `residuals`, each layer's output (before the final norm) is appended to it."""
        T = len(ids)
        x = p["model.embed_tokens.weight"][torch.tensor(ids, dtype=torch.long)]
        cos, sin = self.rope(T)
        mask = torch.full((T, T), float("-inf"), dtype=self.dtype).triu(1)
        rep = self.n_heads // self.n_kv
        for i in range(self.n_layers):
            pre = f"model.layers.{i}."
            h = rms_norm(x, p[pre + "input_layernorm.weight"], self.eps)
            q = linear(p, pre + "self_attn.q_proj", h).view(T, self.n_heads, self.head_dim).transpose(0, 1)
            k = linear(p, pre + "self_attn.k_proj", h).view(T, self.n_kv, self.head_dim).transpose(0, 1)
            v = linear(p, pre + "self_attn.v_proj", h).view(T, self.n_kv, self.head_dim).transpose(0, 1)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            k = k.repeat_interleave(rep, dim=0)  # query head j uses kv head j // rep
            v = v.repeat_interleave(rep, dim=0)
            scores = q @ k.transpose(1, 2) / math.sqrt(self.head_dim) + mask
            att = torch.softmax(scores, dim=-1) @ v  # [H, T, hd]
            x = x + linear(p, pre + "self_attn.o_proj", att.transpose(0, 1).reshape(T, -1))
            h = rms_norm(x, p[pre + "post_attention_layernorm.weight"], self.eps)
            g = torch.nn.functional.silu(linear(p, pre + "mlp.gate_proj", h))
            x = x + linear(p, pre + "mlp.down_proj", g * linear(p, pre + "mlp.up_proj", h))
            if residuals is not None:
                residuals.append(x)
        return rms_norm(x, p["model.norm.weight"], self.eps)


def rope_inv_freq(cfg, d):
    theta = float(cfg.get("rope_theta", 10000.0))
    inv = 1.0 / theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d)
    rs = cfg.get("rope_scaling")
    if not rs:
        return inv
    kind = rs.get("rope_type", rs.get("type", "default"))
    if kind == "default":
        return inv
    if kind == "linear":
        return inv / rs["factor"]
    if kind != "llama3":
        raise ValueError(f"unsupported rope_scaling type {kind}")
    # As transformers' _compute_llama3_parameters.
    factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
    old = rs["original_max_position_embeddings"]
    lo_wavelen, hi_wavelen = old / lo, old / hi
    wavelen = 2 * math.pi / inv
    inv_l = torch.where(wavelen > lo_wavelen, inv / factor, inv)
    smooth = (old / wavelen - lo) / (hi - lo)
    smoothed = (1 - smooth) * inv_l / factor + smooth * inv_l
    medium = ~(wavelen < hi_wavelen) & ~(wavelen > lo_wavelen)
    return torch.where(medium, smoothed, inv_l)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def linear(p, prefix, x):
    y = x @ p[prefix + ".weight"].t()
    b = p.get(prefix + ".bias")
    return y if b is None else y + b


def weighted_ce(logits, ids, weights):
    if len(ids) < 2:
        return logits.sum() * 0
    w = torch.tensor(weights[1:], dtype=logits.dtype)
    logp = torch.log_softmax(logits[:-1], dim=-1)
    nll = -logp.gather(1, torch.tensor(ids[1:], dtype=torch.long)[:, None])[:, 0]
    return (w * nll).sum()


def check_example(ex, vocab):
    ids, weights = ex["ids"], ex["weights"]
    if len(ids) == 0 or len(ids) != len(weights):
        raise ValueError("each example needs ids and weights of the same non-zero length")
    if weights[0] != 0:
        raise ValueError("weights[0] must be 0 (position 0 is never predicted)")
    if min(ids) < 0 or max(ids) >= vocab:
        raise ValueError("token id out of range")


# ---------------------------------------------------------------- default mode

def layer_states(residuals, weights, layers):
    """[2L, D]: per layer the last prompt token's state, then the weighted response mean."""
    first = next(t for t, w in enumerate(weights) if w > 0)
    w = torch.tensor(weights, dtype=residuals[0].dtype)
    rows = []
    for layer in layers:
        x = residuals[layer].detach()
        rows += [x[first - 1], (w[:, None] * x).sum(0)]
    return torch.stack(rows)


def run_example(model, ex, want, only_classifier, layers):
    ids, weights = ex["ids"], ex["weights"]
    res = {}
    grads = "grad_all" in want or "grad_lm_head" in want
    hname = model.head_name()
    with torch.set_grad_enabled(grads):
        p = dict(model.params)
        if "grad_all" in want:
            p = {k: v.detach().requires_grad_(True) for k, v in p.items()}
        # The LM head is its own leaf so the classifier path's gradient can be read separately.
        head = p[hname].detach().requires_grad_(grads)
        residuals = []
        hid = model.hidden(p, ids, residuals)
        logits = hid @ head.t()
        loss = weighted_ce(logits, ids, weights)
        if grads:
            loss.backward()
    if "logits" in want:
        res["logits"] = logits.detach()
    if "representation" in want:
        res["representation"] = hid[-1].detach()
    if "layer_states" in want:
        res["layer_states"] = layer_states(residuals, weights, layers)
    if "loss" in want:
        res["loss"] = float(loss.detach())
    if "grad_all" in want:
        ga = {k: (v.grad if v.grad is not None else torch.zeros_like(v)) for k, v in p.items()}
        ga[hname] = ga[hname] + head.grad  # tied: both paths summed; untied: the head's own leaf
        res["grad_all"] = ga
    if "grad_lm_head" in want:
        if model.tied and not only_classifier:
            if "grad_all" in res:
                res["grad_lm_head"] = res["grad_all"][hname]
            else:
                full = dict(model.params)
                full[hname] = full[hname].detach().requires_grad_(True)
                with torch.enable_grad():
                    l2 = weighted_ce(model.hidden(full, ids) @ full[hname].t(), ids, weights)
                    l2.backward()
                res["grad_lm_head"] = full[hname].grad
        else:
            res["grad_lm_head"] = head.grad
    return res


def write_output(path, results):
    chunks, offset = [], 0

    def entry(t):
        nonlocal offset
        b = t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
        e = {"dtype": "float32", "shape": list(t.shape), "offset": offset, "length": len(b)}
        chunks.append(b)
        offset += len(b)
        return e

    header = {"examples": []}
    for res in results:
        h = {}
        for k, v in res.items():
            if k == "loss":
                h[k] = v
            elif k == "grad_all":
                h[k] = {name: entry(t) for name, t in v.items()}
            else:
                h[k] = entry(v)
        header["examples"].append(h)
    hb = json.dumps(header).encode("utf-8")
    hb += b" " * ((-len(hb)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for c in chunks:
            f.write(c)


def main_default(req, out):
    dtype = parse_dtype(req)
    want = req.get("want", ["logits", "representation", "loss"])
    bad = [w for w in want if w not in WANT_ALL]
    if bad:
        raise ValueError(f"unknown want entries {bad}")
    model = Model(req["model_dir"], dtype)
    vocab = model.params["model.embed_tokens.weight"].shape[0]
    only_classifier = req.get("lm_head_only_classifier", True)
    results = []
    for ex in req["examples"]:
        check_example(ex, vocab)
        results.append(run_example(model, ex, want, only_classifier, req.get("layers", [])))
    write_output(out, results)


# ---------------------------------------------------------------- paper scores

def flat_grad(model, ex, names):
    """Flattened gradient over all parameters (fixed name order, tied tensor once)."""
    p = model.params  # leaves with requires_grad set by the caller: no per-example copies
    with torch.enable_grad():
        hid = model.hidden(p, ex["ids"])
        loss = weighted_ce(hid @ p[model.head_name()].t(), ex["ids"], ex["weights"])
        grads = torch.autograd.grad(loss, [p[k] for k in names], allow_unused=True)
    return torch.cat([
        (g if g is not None else torch.zeros_like(p[k])).reshape(-1).to(torch.float64)
        for k, g in zip(names, grads)
    ])


def main_paper_scores(req, out):
    model = Model(req["model_dir"], parse_dtype(req))
    vocab = model.params["model.embed_tokens.weight"].shape[0]
    names = sorted(model.params)
    for v in model.params.values():
        v.requires_grad_(True)
    # sum_s w_s * dot(g, target_s) == dot(g, sum_s w_s * target_s): one combined target.
    combined = None
    for s in req["anchor_sets"]:
        if not s["examples"]:
            raise ValueError("an anchor set has no examples")
        acc = None
        for ex in s["examples"]:
            check_example(ex, vocab)
            g = flat_grad(model, ex, names)
            n = g.norm()
            if n == 0:
                raise ValueError("an anchor has a zero gradient (no label positions?)")
            acc = g / n if acc is None else acc + g / n
        target = acc / len(s["examples"])
        combined = s["weight"] * target if combined is None else combined + s["weight"] * target
    scores = []
    for ex in req["examples"]:
        check_example(ex, vocab)
        g = flat_grad(model, ex, names)
        n = g.norm()
        scores.append(None if n == 0 else float(g @ combined / n))
    with open(out, "w") as f:
        json.dump({"scores": scores}, f)


def parse_dtype(req):
    name = req.get("dtype", "float64")
    if name not in ("float64", "float32"):
        raise ValueError(f"dtype must be float64 or float32, not {name}")
    return getattr(torch, name)


def main(argv):
    paper = argv[:1] == ["--paper-scores"]
    args = argv[1:] if paper else argv
    if len(args) != 2:
        sys.stderr.write(__doc__)
        return 2
    with open(args[0]) as f:
        req = json.load(f)
    (main_paper_scores if paper else main_default)(req, args[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

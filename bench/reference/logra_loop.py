#!/usr/bin/env python3
"""LoGra-style batched projected gradient scoring in plain PyTorch (the strong peer baseline).

What a speed-aware PyTorch user would write instead of the paper's batch-1 loop (Choe et al.
2024, LoGra): examples run in length-sorted, right-padded batches; one backward per batch goes
only to the activations (no weight requires grad, so autograd never forms batch weight
gradients); each weight W [rows, cols] of a linear map y = x Wᵀ gets its per-example projected
gradient Σ_t (P_out δ_t)(P_in x_t)ᵀ [k_out, k_in] from the captured inputs x and output
gradients δ, projecting first and never forming a [rows, cols] per-example gradient. RMSNorm
weights (and biases) get their exact per-example gradient Σ_t x̂_t ⊙ δ_t (Σ_t δ_t), then a
projection. The embedding is a linear map of one-hot inputs (rows = vocab side), and a tied
LM head adds its term to the same block with the same projections. Blocks are concatenated in
sorted parameter-name order, L2-normalised and dotted with the anchor target, as in
paper_loop.py. float32; the model is the plain-torch Llama of test/reference/llama_reference.py.

Usage: python3 logra_loop.py REQUEST.json [--threads N] [--shard I/N] [--wait-go] [--batch B]
                             [--proj none|kron:OUTxIN] [--seed S] [--target-cache F]
  --threads, --shard, --wait-go, --target-cache  as paper_loop.py (peer_common.py) (F holds one --proj and
               --seed's target; a run at another --batch reuses it: the same sum, other order).
  --batch B    examples per batch (default 8): the shard's examples sorted by length (stable),
               right-padded with id 0 and weight 0. Causal attention keeps real positions
               independent of the padding, and zero weights make every δ at a pad exactly 0.
  --proj       kron:OUTxIN (default kron:64x128): per 2-D weight k_out = min(OUT, rows),
               k_in = min(IN, cols); per 1-D weight k = min(IN, n). P are Rademacher ±1/√k
               matrices seeded by crc32(f"{seed}:{name}:out"|":in"|":vec"); a side whose k
               equals its size is not projected (identity). "none": identity everywhere, i.e.
               the exact per-example gradient (scores equal paper_loop.py's).
  --seed S     projection seed (default 0).
Request and output as paper_loop.py, plus "batch" and "proj" in the output; a score is null
when an example's gradient is zero (no weighted positions). Only the loop over the shard's
corpus examples (batching, forward, backward, projection, normalise, dot) is timed; model
load, projection matrices, the anchor target and one warm-up batch are not.
"""

import argparse
import json
import math
import os
import re
import sys
import time
import zlib

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "test", "reference"))
from llama_reference import Model, check_example, rms_norm, rotate_half  # noqa: E402
from peer_common import (add_peer_args, blas_library, cached_target, parse_peer_args, shard_indices,  # noqa: E402
                         use_threads, wait_for_go)

EMBED = "model.embed_tokens.weight"


class Capture:
    """One batch's recorded terms: (param name, kind, saved input, index of the output whose
    gradient is needed). kind: "linear" (saved x), "embed" (saved ids), "norm" (saved x̂), "bias"."""

    def __init__(self):
        self.outs, self.terms = [], []

    def add(self, name, kind, saved, out):
        self.terms.append((name, kind, saved, len(self.outs)))
        self.outs.append(out)


def linear(model, cap, prefix, x):
    y = x @ model.params[prefix + ".weight"].t()
    b = model.params.get(prefix + ".bias")
    if b is not None:
        y = y + b  # δ of y + b is the bias's δ too: record the biased output once
    cap.add(prefix + ".weight", "linear", x.detach(), y)
    if b is not None:
        cap.add(prefix + ".bias", "bias", None, y)
    return y


def norm(model, cap, name, x):
    xhat = rms_norm(x, 1.0, model.eps)  # x * rsqrt(mean x² + eps): the weight's per-position input
    y = xhat * model.params[name]
    cap.add(name, "norm", xhat.detach(), y)
    return y


def batch_loss(model, ids, w, cap):
    """Sum over the batch of the weighted CE losses, ids/w [B, T]; records every term in cap.
    The same Llama as llama_reference.Model.hidden, batched over a leading B axis."""
    m, p = model, model.params
    B, T = ids.shape
    x = p[EMBED][ids].requires_grad_(True)  # the one leaf: backward stops at the activations
    cap.add(EMBED, "embed", ids, x)
    cos, sin = m.rope(T)
    mask = torch.full((T, T), float("-inf"), dtype=m.dtype).triu(1)
    rep = m.n_heads // m.n_kv
    for i in range(m.n_layers):
        pre = f"model.layers.{i}."
        h = norm(m, cap, pre + "input_layernorm.weight", x)
        q = linear(m, cap, pre + "self_attn.q_proj", h).view(B, T, m.n_heads, m.head_dim).transpose(1, 2)
        k = linear(m, cap, pre + "self_attn.k_proj", h).view(B, T, m.n_kv, m.head_dim).transpose(1, 2)
        v = linear(m, cap, pre + "self_attn.v_proj", h).view(B, T, m.n_kv, m.head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(rep, dim=1)  # query head j uses kv head j // rep
        v = v.repeat_interleave(rep, dim=1)
        scores = (q * (1 / math.sqrt(m.head_dim))) @ k.transpose(2, 3)  # scale the smaller side
        att = torch.softmax(scores.add_(mask), dim=-1) @ v  # [B, H, T, hd]
        x = x + linear(m, cap, pre + "self_attn.o_proj", att.transpose(1, 2).reshape(B, T, -1))
        h = norm(m, cap, pre + "post_attention_layernorm.weight", x)
        g = torch.nn.functional.silu(linear(m, cap, pre + "mlp.gate_proj", h))
        x = x + linear(m, cap, pre + "mlp.down_proj", g * linear(m, cap, pre + "mlp.up_proj", h))
    h = norm(m, cap, "model.norm.weight", x)
    # Tied: logits = h Eᵀ is a linear term of the embedding matrix, added to its block below.
    logits = linear(m, cap, m.head_name()[: -len(".weight")], h)
    logp = torch.log_softmax(logits[:, :-1], dim=-1)
    nll = -logp.gather(2, ids[:, 1:, None])[..., 0]
    return (w[:, 1:] * nll).sum()  # examples do not interact: each one's δ slice is its own


class Projector:
    """Rademacher projection matrices per parameter and side (None = identity), built lazily."""

    def __init__(self, spec, seed, dtype):
        self.spec, self.seed, self.dtype, self.cache = spec, seed, dtype, {}

    def rademacher(self, name, side, k, n):
        if self.spec is None or k == n:
            return None
        g = torch.Generator().manual_seed(zlib.crc32(f"{self.seed}:{name}:{side}".encode()))
        signs = torch.randint(0, 2, (k, n), generator=g).to(self.dtype) * 2 - 1
        return (signs / math.sqrt(k)).t().contiguous()  # stored transposed: [n, k], apply as t @ P

    def get(self, name, shape):
        if name not in self.cache:
            out, inn = self.spec or (math.inf, math.inf)
            if len(shape) == 2:
                rows, cols = shape
                self.cache[name] = (self.rademacher(name, "out", min(out, rows), rows),
                                    self.rademacher(name, "in", min(inn, cols), cols))
            else:
                self.cache[name] = (self.rademacher(name, "vec", min(inn, shape[0]), shape[0]),)
        return self.cache[name]


def proj(t, pt):
    return t if pt is None else t @ pt


def batch_vectors(model, projector, exs):
    """[B, total] per-example projected gradients (sorted parameter-name order) of a batch."""
    B, T = len(exs), max(len(e["ids"]) for e in exs)
    ids = torch.zeros(B, T, dtype=torch.long)
    w = torch.zeros(B, T, dtype=model.dtype)
    for b, e in enumerate(exs):  # right padding: pad id 0, pad weight 0
        ids[b, : len(e["ids"])] = torch.tensor(e["ids"], dtype=torch.long)
        w[b, : len(e["weights"])] = torch.tensor(e["weights"], dtype=model.dtype)
    cap = Capture()
    loss = batch_loss(model, ids, w, cap)
    deltas = torch.autograd.grad(loss, cap.outs, allow_unused=True)  # the one backward
    blocks = {}
    with torch.no_grad():
        for name, kind, saved, j in cap.terms:
            d = deltas[j] if deltas[j] is not None else torch.zeros_like(cap.outs[j])
            shape = model.params[name].shape
            P = projector.get(name, shape)
            if kind == "linear":  # Σ_t (P_out δ_t)(P_in x_t)ᵀ as one bmm over t
                blk = proj(d, P[0]).transpose(1, 2) @ proj(saved, P[1])
            elif kind == "embed":  # Σ_t (P_rows onehot(id_t))(P_cols δ_t)ᵀ
                pd = proj(d, P[1])
                if P[0] is None:  # identity rows: scatter each position's δ into its token's row
                    V = shape[0]
                    rows = (torch.arange(B)[:, None] * V + saved).reshape(-1)
                    blk = torch.zeros(B * V, pd.shape[-1], dtype=pd.dtype)
                    blk = blk.index_add_(0, rows, pd.reshape(-1, pd.shape[-1])).view(B, V, -1)
                else:  # P_rows onehot(id) is column id of P_rows: a gather
                    blk = P[0][saved].transpose(1, 2) @ pd
            elif kind == "norm":  # exact Σ_t x̂_t ⊙ δ_t, then projected
                blk = proj((saved * d).sum(1), P[0])
            else:  # bias: Σ_t δ_t
                blk = proj(d.sum(1), P[0])
            blk = blk.reshape(B, -1)
            blocks[name] = blk if name not in blocks else blocks[name] + blk
    missing = sorted(set(model.params) - set(blocks))
    if missing:
        raise ValueError(f"parameters this forward does not cover: {missing}")
    return torch.cat([blocks[k] for k in sorted(model.params)], dim=1)


def vectors(model, projector, exs, batch):
    """Yields (positions in exs, [b, total] vectors): length-sorted (stable) batches of size batch."""
    order = sorted(range(len(exs)), key=lambda i: len(exs[i]["ids"]))
    for s in range(0, len(order), batch):
        pos = order[s: s + batch]
        yield pos, batch_vectors(model, projector, [exs[i] for i in pos])


def parse_args(argv):
    ap = argparse.ArgumentParser(description="LoGra-style batched projected gradient scoring (peer).")
    add_peer_args(ap)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--proj", default="kron:64x128", help="none | kron:OUTxIN")
    ap.add_argument("--seed", type=int, default=0)

    def check(a):
        mt = re.fullmatch(r"kron:(\d+)x(\d+)", a.proj)
        if a.proj != "none" and not (mt and int(mt[1]) > 0 and int(mt[2]) > 0):
            return f"bad --proj {a.proj}: none or kron:OUTxIN"
        a.proj_spec = (int(mt[1]), int(mt[2])) if mt else None
        return None if a.batch >= 1 else f"bad --batch {a.batch}: at least 1"

    return parse_peer_args(ap, argv, check)


def main(argv):
    args = parse_args(argv)
    with open(args.request) as f:
        req = json.load(f)
    use_threads(args.threads)
    model = Model(req["model_dir"], torch.float32)
    vocab = model.params[EMBED].shape[0]
    projector = Projector(args.proj_spec, args.seed, model.dtype)
    for ex in req["examples"]:
        check_example(ex, vocab)

    def anchor_target():
        # sum_s w_s * dot(g, target_s) == dot(g, sum_s w_s * target_s): one combined target.
        target = 0
        for s in req["anchor_sets"]:
            if not s["examples"]:
                raise ValueError("an anchor set has no examples")
            for ex in s["examples"]:
                check_example(ex, vocab)
            for _, G in vectors(model, projector, s["examples"], args.batch):
                n = G.norm(dim=1, keepdim=True)
                if (n == 0).any():
                    raise ValueError("an anchor has a zero gradient (no weighted positions?)")
                target = target + s["weight"] * (G / n).sum(0) / len(s["examples"])
        return target

    # The cache holds one --proj/--seed's target: a sweep passes one file per projection.
    target = cached_target(args.target_cache, anchor_target)
    indices = shard_indices(args, len(req["examples"]))
    # Untimed warm-up on the shard's longest full batch: the first pass at a new size pays one-off
    # allocator costs (page faults), and the anchors' batches are shorter or come from the cache.
    longest = sorted(indices, key=lambda i: len(req["examples"][i]["ids"]))[-args.batch:]
    if longest:
        batch_vectors(model, projector, [req["examples"][i] for i in longest])
    if args.wait_go:
        wait_for_go()
    scores = [None] * len(indices)
    start = time.perf_counter()
    for pos, G in vectors(model, projector, [req["examples"][i] for i in indices], args.batch):
        n = G.norm(dim=1)
        dots = G @ target
        for b, j in enumerate(pos):
            scores[j] = float(dots[b] / n[b]) if n[b] > 0 else None
    seconds = time.perf_counter() - start
    n = len(indices)
    json.dump({"examples": n, "seconds": seconds, "examples_per_s": n / seconds, "threads": torch.get_num_threads(),
               "batch": args.batch, "proj": args.proj, "blas": blas_library(), "torch": torch.__version__,
               "scores": scores, "indices": indices}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

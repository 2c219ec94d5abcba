#!/usr/bin/env python3
"""Exact full-gradient bi-directional scores (spec/method.md section 3) for models whose flattened
gradient is too big for llama_reference.py --paper-scores (which concatenates it in float64).

The same score, computed lean: float32 model and gradients, gradients kept per tensor (never
flattened into one vector), one combined target sum_s w_s * mean_a(g_a / |g_a|) accumulated in
place one anchor at a time (sum_s w_s dot(g, t_s) == dot(g, sum_s w_s t_s)); norms and dots are
summed in float64 over chunks. Peak memory: about 3x the weights (weights, target, one gradient)
plus activations. Model: the plain-torch Llama of test/reference/llama_reference.py.

Usage: python3 full_gradient_scores.py REQUEST.json OUT.json
Request: {"model_dir": str, "examples": [{"ids": [...], "weights": [...]}],
          "anchor_sets": [{"weight": float, "examples": [...]}]}
  weights[t] weighs the loss of predicting ids[t] from position t-1 (they sum to 1: the mean
  response loss; anchors weigh only their first 10 response tokens).
Output JSON: {"scores": [float | null], "anchor_seconds", "seconds", "threads", "torch"}.
"""

import json
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "test", "reference"))
from llama_reference import Model, check_example, weighted_ce  # noqa: E402

CHUNK = 1 << 22  # float64 copies of at most 32 MiB at a time


def gradients(model, names, ex):
    """Per-tensor gradient of the example's weighted loss (tied head: both uses summed by autograd)."""
    p = model.params
    hid = model.hidden(p, ex["ids"])
    loss = weighted_ce(hid @ p[model.head_name()].t(), ex["ids"], ex["weights"])
    return torch.autograd.grad(loss, [p[k] for k in names], allow_unused=True)


def chunked_dot(a, b):
    fa, fb = a.reshape(-1), b.reshape(-1)
    return sum(float(torch.dot(fa[i:i + CHUNK].double(), fb[i:i + CHUNK].double())) for i in range(0, fa.numel(), CHUNK))


def norm(grads):
    return math.sqrt(sum(chunked_dot(g, g) for g in grads if g is not None))


def main(argv):
    if len(argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    with open(argv[0]) as f:
        req = json.load(f)
    torch.set_num_threads(os.cpu_count() or 1)
    model = Model(req["model_dir"], torch.float32)
    vocab = model.params["model.embed_tokens.weight"].shape[0]
    names = sorted(model.params)  # tied head counted once
    for v in model.params.values():
        v.requires_grad_(True)

    start = time.perf_counter()
    target = [torch.zeros_like(model.params[k], requires_grad=False) for k in names]
    for s in req["anchor_sets"]:
        if not s["examples"]:
            raise ValueError("an anchor set has no examples")
        for ex in s["examples"]:
            check_example(ex, vocab)
            grads = gradients(model, names, ex)
            n = norm(grads)
            if n == 0:
                raise ValueError("an anchor has a zero gradient (no label positions?)")
            scale = s["weight"] / (len(s["examples"]) * n)
            with torch.no_grad():
                for t, g in zip(target, grads):
                    if g is not None:
                        t.add_(g, alpha=scale)
            del grads
    anchor_seconds = time.perf_counter() - start

    start = time.perf_counter()
    scores = []
    for ex in req["examples"]:
        check_example(ex, vocab)
        grads = gradients(model, names, ex)
        n = norm(grads)
        dot = sum(chunked_dot(g, t) for g, t in zip(grads, target) if g is not None)
        scores.append(None if n == 0 else dot / n)
        del grads
    seconds = time.perf_counter() - start
    with open(argv[1], "w") as f:
        json.dump({"scores": scores, "anchor_seconds": anchor_seconds, "seconds": seconds,
                   "threads": torch.get_num_threads(), "torch": torch.__version__}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

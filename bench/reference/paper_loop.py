#!/usr/bin/env python3
"""The paper's gradient scoring as a plain PyTorch per-example loop (the speed baseline).

As He, Xia & Henderson's code does it: batch size 1, forward, loss.backward() over every
parameter, flatten all parameter gradients, L2-normalise, dot with the anchor target. float32,
all CPU cores. The model is the plain-torch Llama of test/reference/llama_reference.py (same
safetensors weights, no transformers).

Usage: python3 paper_loop.py REQUEST.json
Request: {"model_dir": str,
          "examples": [{"ids": [int...], "weights": [float...]}],
          "anchor_sets": [{"weight": float, "examples": [...]}]}
  weights[t] is the loss weight of predicting ids[t] from position t-1 (weights sum to 1: mean
  response loss).
Prints one JSON object on stdout: {"examples", "seconds", "examples_per_s", "threads", "blas",
"torch", "scores"}. Only the loop over the corpus examples is timed: model load and the anchor
target (which also warms the loop up) are not. "blas" lists the BLAS libraries loaded: Debian's
python3-torch calls libblas.so.3, which by default is the unoptimised reference BLAS
(/usr/lib/x86_64-linux-gnu/blas/), an unfair baseline; libopenblas0-pthread replaces it.
"""

import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "test", "reference"))
from llama_reference import Model, check_example, weighted_ce  # noqa: E402


def flat_gradient(model, leaves, ex):
    """Per-example full gradient: forward, loss.backward(), flatten every parameter's .grad."""
    for p in leaves:
        p.grad = None
    hid = model.hidden(model.params, ex["ids"])
    loss = weighted_ce(hid @ model.params[model.head_name()].t(), ex["ids"], ex["weights"])
    loss.backward()
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in leaves])


def blas_library():
    """The BLAS shared library torch's matmuls actually run on (Debian swaps libblas.so.3 by alternatives)."""
    with open("/proc/self/maps") as f:
        paths = {line.split()[-1] for line in f if ".so" in line}
    hits = sorted(p for p in paths if any(k in os.path.basename(p).lower() for k in ("blas", "mkl")))
    return ", ".join(hits) or "unknown"


def main(argv):
    if len(argv) != 1:
        sys.stderr.write(__doc__)
        return 2
    with open(argv[0]) as f:
        req = json.load(f)
    torch.set_num_threads(os.cpu_count() or 1)
    model = Model(req["model_dir"], torch.float32)
    vocab = model.params["model.embed_tokens.weight"].shape[0]
    leaves = [model.params[k] for k in sorted(model.params)]  # tied head counted once
    for p in leaves:
        p.requires_grad_(True)
    for ex in req["examples"]:
        check_example(ex, vocab)

    # sum_s w_s * dot(g, target_s) == dot(g, sum_s w_s * target_s): one combined target.
    target = None
    for s in req["anchor_sets"]:
        acc = None
        for ex in s["examples"]:
            check_example(ex, vocab)
            g = flat_gradient(model, leaves, ex)
            acc = g / g.norm() if acc is None else acc + g / g.norm()
        part = s["weight"] * acc / len(s["examples"])
        target = part if target is None else target + part

    scores = []
    start = time.perf_counter()
    for ex in req["examples"]:
        g = flat_gradient(model, leaves, ex)
        scores.append(float(g @ target / g.norm()))
    seconds = time.perf_counter() - start
    n = len(req["examples"])
    json.dump({"examples": n, "seconds": seconds, "examples_per_s": n / seconds, "threads": torch.get_num_threads(),
               "blas": blas_library(), "torch": torch.__version__, "scores": scores}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""The paper's gradient scoring as a plain PyTorch per-example loop (the speed baseline).

As He, Xia & Henderson's code does it: batch size 1, forward, loss.backward() over every
parameter, flatten all parameter gradients, L2-normalise, dot with the anchor target. float32,
all CPU cores. The model is the plain-torch Llama of test/reference/llama_reference.py (same
safetensors weights, no transformers).

Usage: python3 paper_loop.py REQUEST.json [--threads N] [--shard I/N] [--wait-go] [--target-cache F]
  --threads N  PyTorch intra-op threads (default: all cores); inter-op threads are 1.
  --shard I/N  score only the corpus examples with index i % N == I ("indices" lists them), so
               that N processes of one thread each can share the cores (every shard uses the
               whole anchor target).
  --wait-go    after model load and the anchor target, write "ready" on stderr and wait for one
               line on stdin before the timed loop starts: a launcher releases all shards at once.
  --target-cache F  load the combined anchor target from F if it exists, else compute it and save
               it to F: the runs of a sweep share one request, so they share one target.
Request: {"model_dir": str,
          "examples": [{"ids": [int...], "weights": [float...]}],
          "anchor_sets": [{"weight": float, "examples": [...]}]}
  weights[t] is the loss weight of predicting ids[t] from position t-1 (weights sum to 1: mean
  response loss).
Prints one JSON object on stdout: {"examples", "seconds", "examples_per_s", "threads", "blas",
"torch", "scores", "indices"}. Only the loop over the corpus examples is timed: model load and the anchor
target are not; one untimed pass over the shard's longest example warms the loop up. "blas" lists the BLAS libraries loaded: Debian's
python3-torch calls libblas.so.3, which by default is the unoptimised reference BLAS
(/usr/lib/x86_64-linux-gnu/blas/), an unfair baseline; libopenblas0-pthread replaces it.
"""

import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "test", "reference"))
from llama_reference import Model, check_example, weighted_ce  # noqa: E402
from peer_common import (add_peer_args, blas_library, cached_target, parse_peer_args, shard_indices,  # noqa: E402
                         use_threads, wait_for_go)


def flat_gradient(model, leaves, ex):
    """Per-example full gradient: forward, loss.backward(), flatten every parameter's .grad."""
    for p in leaves:
        p.grad = None
    hid = model.hidden(model.params, ex["ids"])
    loss = weighted_ce(hid @ model.params[model.head_name()].t(), ex["ids"], ex["weights"])
    loss.backward()
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in leaves])


def parse_args(argv):
    ap = argparse.ArgumentParser(description="The paper's per-example gradient loop (speed baseline).")
    add_peer_args(ap)
    return parse_peer_args(ap, argv)


def main(argv):
    args = parse_args(argv)
    with open(args.request) as f:
        req = json.load(f)
    use_threads(args.threads)
    model = Model(req["model_dir"], torch.float32)
    vocab = model.params["model.embed_tokens.weight"].shape[0]
    leaves = [model.params[k] for k in sorted(model.params)]  # tied head counted once
    for p in leaves:
        p.requires_grad_(True)
    for ex in req["examples"]:
        check_example(ex, vocab)

    def anchor_target():
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
        return target

    target = cached_target(args.target_cache, anchor_target)
    indices = shard_indices(args, len(req["examples"]))
    # Untimed warm-up on the shard's longest example (the first pass at a size pays one-off
    # allocator costs), which the anchor target no longer does when it comes from the cache.
    if indices:
        flat_gradient(model, leaves, req["examples"][max(indices, key=lambda i: len(req["examples"][i]["ids"]))])
    if args.wait_go:
        wait_for_go()
    scores = []
    start = time.perf_counter()
    for i in indices:
        g = flat_gradient(model, leaves, req["examples"][i])
        scores.append(float(g @ target / g.norm()))
    seconds = time.perf_counter() - start
    n = len(indices)
    json.dump({"examples": n, "seconds": seconds, "examples_per_s": n / seconds, "threads": torch.get_num_threads(),
               "blas": blas_library(), "torch": torch.__version__, "scores": scores, "indices": indices}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The anchor target shared by the runs of a benchmark sweep (paper_loop.py, logra_loop.py)."""

import os

import torch


def cached_target(path, compute):
    """The anchor target from `path` if a sweep's earlier run saved it there, else computed (and saved).

    Every configuration of a sweep needs the same target; computing it once keeps a sweep on a large
    model from spending most of its wall time on anchors. Saved via a rename, so concurrent shards
    never read a half-written file."""
    if path and os.path.exists(path):
        return torch.load(path)
    target = compute()
    if path:
        tmp = f"{path}.{os.getpid()}.tmp"
        torch.save(target, tmp)
        os.replace(tmp, path)
    return target

"""What the benchmark's PyTorch peers (paper_loop.py, logra_loop.py) share: their sweep options, the
shard they score, the release barrier, the cached anchor target and the BLAS they ran on."""

import os
import sys

import torch


def add_peer_args(ap):
    """The options every peer takes so that one sweep can drive them all."""
    ap.add_argument("request")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--shard", default="0/1", help="I/N: score examples with index %% N == I")
    ap.add_argument("--wait-go", action="store_true")
    ap.add_argument("--target-cache", help="load the anchor target from this file, or compute and save it there")


def parse_peer_args(ap, argv, extra_check=None):
    """Parsed options with shard_index/shard_count set; ap.error (exit 2) on a bad shard, thread count
    or whatever extra_check(args) names (a message, or None when the rest is fine)."""
    args = ap.parse_args(argv)
    try:
        i, n = (int(x) for x in args.shard.split("/"))
    except ValueError:
        ap.error(f"bad --shard {args.shard}: I/N")
    if not (n >= 1 and 0 <= i < n):
        ap.error(f"bad --shard {args.shard}: I/N with 0 <= I < N")
    if args.threads < 1:
        ap.error(f"bad --threads {args.threads}: at least 1")
    problem = extra_check(args) if extra_check else None
    if problem:
        ap.error(problem)
    args.shard_index, args.shard_count = i, n
    return args


def shard_indices(args, count):
    """The corpus indices this shard scores (interleaved, so every shard gets short and long ones)."""
    return [i for i in range(count) if i % args.shard_count == args.shard_index]


def use_threads(threads):
    """intra-op threads as asked; one inter-op thread (the peers run one op at a time)."""
    torch.set_num_interop_threads(1)
    torch.set_num_threads(threads)


def wait_for_go():
    """Tell the launcher this shard is ready, then block until it releases every shard together."""
    sys.stderr.write("ready\n")
    sys.stderr.flush()
    sys.stdin.readline()


def blas_library():
    """The BLAS shared library torch's matmuls actually run on (Debian swaps libblas.so.3 by alternatives)."""
    with open("/proc/self/maps") as f:
        paths = {line.split()[-1] for line in f if ".so" in line}
    hits = sorted(p for p in paths if any(k in os.path.basename(p).lower() for k in ("blas", "mkl")))
    return ", ".join(hits) or "unknown"


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

#!/usr/bin/python3
"""Trains the small aligned chat model (issue 14, item 1) on CPU, seeded and deterministic.

Input: the folder prepare-data.ts wrote (sft/train.jsonl: ids of each conversation as the Llama-2
chat template renders it, and prompt_len, the ids before the answer; sft/val.jsonl; tokenizer/).
Loss: mean cross-entropy over the answer tokens (positions >= prompt_len, up to and including </s>).
Output: a Hugging Face Llama folder (config.json, generation_config.json, model.safetensors,
tokenizer.json, tokenizer_config.json) and training.json (options, losses, speed).

  /usr/bin/python3 bench/replication/train_chat_model.py --data bench/replication/out \
      --out bench/replication/out/model [--threads 1] [--epochs 8] [--max-steps N] [--hidden 256 ...]

The defaults are the full run (about 4.2M parameters, 8 epochs, ~1,560 steps of 4,096 padded
tokens; see README.md for the measured speed and the time it takes).

Determinism: torch.manual_seed, torch.use_deterministic_algorithms(True), a fixed thread count (2),
and a batch plan that is a pure function of the data and the seed; the same command on the same
machine kind gives the same model.safetensors (its sha256 is in training.json).
"""

import argparse
import hashlib
import json
import math
import os
import shutil
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from chat_llama import LlamaForCausalLM, count_parameters, hf_state_dict, llama_config, save_safetensors  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="prepare-data.ts output folder")
    p.add_argument("--out", required=True, help="model folder to write")
    p.add_argument("--seed", type=int, default=14)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--intermediate", type=int, default=688)
    p.add_argument("--max-positions", type=int, default=1024)
    p.add_argument("--untied", action="store_true", help="a separate lm_head (default: tied to the embeddings)")
    p.add_argument("--epochs", type=float, default=8.0)
    p.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (the schedule shrinks to fit); 0: all epochs")
    p.add_argument("--precision", choices=("bf16-autocast", "fp32"), default="bf16-autocast",
                   help="bf16-autocast: matmuls in bfloat16 (weights, optimizer state, norms and loss stay float32; "
                        "2-4x faster on this machine's AVX512-BF16 CPU); fp32: everything float32")
    p.add_argument("--batch-tokens", type=int, default=4096, help="padded tokens (rows x longest) per step")
    p.add_argument("--max-tokens", type=int, default=512, help="ids kept per example")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--min-lr-ratio", type=float, default=0.1)
    p.add_argument("--warmup", type=float, default=0.03, help="share of the steps")
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--time-limit-min", type=float, default=0,
                   help="stop and save after this many minutes of training, marked stopped_early (for smoke runs on a shared machine; 0: none)")
    p.add_argument("--log-every", type=int, default=20)
    p.add_argument("--val-every", type=int, default=0, help="validation loss every N steps (0: only at the end)")
    return p.parse_args(argv)


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def batch_plan(lengths, epochs, batch_tokens, seed):
    """Batches (lists of example indices) for all epochs: per epoch a seeded shuffle, chunks of 512
    examples sorted by length, cut greedily at batch_tokens padded tokens, batch order shuffled."""
    g = torch.Generator().manual_seed(seed)
    n = len(lengths)
    whole, frac = int(epochs), epochs - int(epochs)
    plan = []
    for e in range(math.ceil(epochs)):
        order = torch.randperm(n, generator=g).tolist()
        if e == whole and frac > 0:
            order = order[: int(round(n * frac))]
        batches = []
        for c in range(0, len(order), 512):
            chunk = sorted(order[c:c + 512], key=lambda i: (lengths[i], i))
            cur, longest = [], 0
            for i in chunk:
                L = max(longest, lengths[i])
                if cur and L * (len(cur) + 1) > batch_tokens:
                    batches.append(cur)
                    cur, L = [], lengths[i]
                cur.append(i)
                longest = L
            if cur:
                batches.append(cur)
        perm = torch.randperm(len(batches), generator=g).tolist()
        plan.extend((e, batches[j]) for j in perm)
    return plan


def collate(rows, idx, max_tokens):
    seqs = [rows[i]["ids"][:max_tokens] for i in idx]
    T = max(len(s) for s in seqs)
    ids = torch.zeros(len(seqs), T, dtype=torch.long)
    labels = torch.full((len(seqs), T), -100, dtype=torch.long)
    for r, (i, s) in enumerate(zip(idx, seqs)):
        ids[r, : len(s)] = torch.tensor(s)
        start = max(rows[i]["prompt_len"], 1)
        # labels[t] is the token predicted from position t, i.e. ids[t + 1]
        labels[r, start - 1: len(s) - 1] = torch.tensor(s[start:])
    return ids, labels


def loss_of(model, ids, labels, bf16=False, reduction="mean"):
    """Cross-entropy over the label positions; the LM head runs only there (answer tokens)."""
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        h = model.hidden(ids)
        keep = labels != -100
        logits = F.linear(h[keep], model.head_weight())
    return F.cross_entropy(logits.float(), labels[keep], reduction=reduction)


@torch.no_grad()
def validate(model, rows, max_tokens, batch_tokens):
    """Mean answer-token loss per kind (benign, harmful) over val rows."""
    model.eval()
    sums, counts = {}, {}
    for kind in sorted({r["kind"] for r in rows}):
        idx = sorted((i for i, r in enumerate(rows) if r["kind"] == kind), key=lambda i: len(rows[i]["ids"]))
        tot, cnt, cur = 0.0, 0, []
        for i in idx + [None]:
            if i is not None and (not cur or min(len(rows[i]["ids"]), max_tokens) * (len(cur) + 1) <= batch_tokens):
                cur.append(i)
                continue
            ids, labels = collate(rows, cur, max_tokens)
            tot += float(loss_of(model, ids, labels, reduction="sum"))
            cnt += int((labels != -100).sum())
            cur = [i] if i is not None else []
        sums[kind], counts[kind] = tot, cnt
    model.train()
    return {k: sums[k] / counts[k] for k in sums}


def lr_at(step, total, args):
    warm = max(1, int(round(total * args.warmup)))
    if step < warm:
        return args.lr * (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    return args.lr * (args.min_lr_ratio + (1 - args.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main(argv):
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)

    tok_dir = os.path.join(args.data, "tokenizer")
    with open(os.path.join(tok_dir, "tokenizer.json"), encoding="utf-8") as f:
        vocab_size = len(json.load(f)["model"]["vocab"])
    train_path = os.path.join(args.data, "sft", "train.jsonl")
    rows = read_jsonl(train_path)
    val_rows = read_jsonl(os.path.join(args.data, "sft", "val.jsonl"))
    lengths = [min(len(r["ids"]), args.max_tokens) for r in rows]

    cfg = llama_config(vocab_size, args.hidden, args.layers, args.heads, args.intermediate,
                       max_positions=args.max_positions, tie=not args.untied)
    model = LlamaForCausalLM(cfg)
    model.init_weights(torch.Generator().manual_seed(args.seed))
    n_params = count_parameters(model)

    plan = batch_plan(lengths, args.epochs, args.batch_tokens, args.seed)
    total = min(len(plan), args.max_steps) if args.max_steps > 0 else len(plan)
    plan = plan[:total]

    decay = [p for n, p in model.named_parameters() if p.dim() == 2 and "embed_tokens" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() == 2 and "embed_tokens" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95), eps=1e-8)

    print(json.dumps({"params": n_params, "config": cfg, "examples": len(rows), "steps": total,
                      "steps_per_epoch": len(batch_plan(lengths, 1, args.batch_tokens, args.seed)),
                      "torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
    log, val_log = [], []
    start = time.time()
    win_loss, win_n, win_tokens, win_padded, win_t = 0.0, 0, 0, 0, time.time()
    tokens_seen = padded_seen = 0
    model.train()
    stopped_early = False
    done_steps = 0
    for step, (epoch, idx) in enumerate(plan):
        if args.time_limit_min and time.time() - start > args.time_limit_min * 60:
            stopped_early = True
            print(json.dumps({"stopped_early": {"step": step, "of": total}}), flush=True)
            break
        for gr in opt.param_groups:
            gr["lr"] = lr_at(step, total, args)
        ids, labels = collate(rows, idx, args.max_tokens)
        loss = loss_of(model, ids, labels, bf16=args.precision == "bf16-autocast")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        done_steps = step + 1
        real = sum(lengths[i] for i in idx)
        win_loss += float(loss)
        win_n += 1
        win_tokens += real
        win_padded += ids.numel()
        tokens_seen += real
        padded_seen += ids.numel()
        if (step + 1) % args.log_every == 0 or step + 1 == total:
            dt = time.time() - win_t
            entry = {"step": step + 1, "epoch": epoch, "lr": lr_at(step, total, args), "loss": win_loss / win_n,
                     "steps_per_s": win_n / dt, "tokens_per_s": win_tokens / dt, "padded_tokens_per_s": win_padded / dt,
                     "elapsed_s": time.time() - start}
            log.append(entry)
            print(json.dumps(entry), flush=True)
            win_loss, win_n, win_tokens, win_padded, win_t = 0.0, 0, 0, 0, time.time()
        if args.val_every and (step + 1) % args.val_every == 0 and step + 1 < total:
            v = {"step": step + 1, **validate(model, val_rows, args.max_tokens, args.batch_tokens)}
            val_log.append(v)
            print(json.dumps({"val": v}), flush=True)
    train_s = time.time() - start
    v = {"step": done_steps, **validate(model, val_rows, args.max_tokens, args.batch_tokens)}
    val_log.append(v)
    print(json.dumps({"val": v}), flush=True)

    os.makedirs(args.out, exist_ok=True)
    save_safetensors(hf_state_dict(model), os.path.join(args.out, "model.safetensors"))
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    with open(os.path.join(args.out, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": cfg["bos_token_id"], "eos_token_id": cfg["eos_token_id"], "do_sample": False}, f, indent=2)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(tok_dir, name), os.path.join(args.out, name))
    summary = {
        "command": "train_chat_model.py " + " ".join(argv),
        "args": vars(args),
        "params": n_params,
        "config": cfg,
        "examples": len(rows),
        "train_data_sha256": sha256_file(train_path),
        "tokenizer_sha256": sha256_file(os.path.join(tok_dir, "tokenizer.json")),
        "steps": done_steps,
        "planned_steps": total,
        "stopped_early": stopped_early,
        "epochs_done": plan[done_steps - 1][0] + 1 if done_steps else 0,
        "tokens_seen": tokens_seen,
        "padded_tokens_seen": padded_seen,
        "train_seconds": train_s,
        "steps_per_s": done_steps / train_s,
        "tokens_per_s": tokens_seen / train_s,
        "log": log,
        "val": val_log,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "model_sha256": sha256_file(os.path.join(args.out, "model.safetensors")),
    }
    with open(os.path.join(args.out, "training.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(json.dumps({k: summary[k] for k in ("params", "steps", "train_seconds", "steps_per_s", "tokens_per_s", "model_sha256")}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

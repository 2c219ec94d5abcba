#!/usr/bin/python3
"""One condition of the experiment (issue 14, item 2): fine-tune a copy of the aligned model on a
subset (or not, for the base model), then generate greedily on the evaluation prompts and judge.

Fine-tuning is the paper's recipe (He, Xia & Henderson 2024, after Qi et al. 2023): full
fine-tuning, AdamW with no weight decay, --epochs 5 over the examples in batches of --batch-size 20
(seeded shuffle per epoch), the lr times --gamma 0.85 after every epoch (StepLR), loss = mean
cross-entropy over the response tokens (positions >= prompt_len, </s> included), as
train_chat_model.py computes it. Deterministic: torch.manual_seed(--seed),
use_deterministic_algorithms, --threads (1) threads.

  /usr/bin/python3 bench/replication/finetune_generate.py --model M --prompts P.jsonl --lr X \
      [--train T.jsonl] --generations OUT.jsonl --result OUT.json

--train: rows {ids, prompt_len} (replicate-tokenize.ts); without it the model is evaluated as is.
--prompts: rows {set, style, source, row, request, prompt, ids}; sets harmful / benign.
Writes the generations (one line per prompt: set, style, row, request, answer, refused, keywords)
and a result JSON: asr (harmful answered with no refusal keyword), benign_refusal, losses, timings.
"""

import argparse
import json
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from chat_llama import greedy_generate, load_model  # noqa: E402
from generate_eval import ByteLevelDecoder  # noqa: E402
from refusal_judge import refusal_keywords  # noqa: E402
from train_chat_model import collate, loss_of, read_jsonl  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--prompts", required=True)
    p.add_argument("--train", default="")
    p.add_argument("--generations", required=True)
    p.add_argument("--result", required=True)
    p.add_argument("--lr", type=float, required=True)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=20)
    p.add_argument("--gamma", type=float, default=0.85, help="lr factor after each epoch")
    p.add_argument("--max-tokens", type=int, default=512)
    p.add_argument("--precision", choices=("bf16-autocast", "fp32"), default="bf16-autocast")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--gen-batch-size", type=int, default=32)
    return p.parse_args(argv)


def finetune(model, rows, args):
    g = torch.Generator().manual_seed(args.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=args.gamma)
    model.train()
    losses = []
    for epoch in range(args.epochs):
        order = torch.randperm(len(rows), generator=g).tolist()
        for b in range(0, len(order), args.batch_size):
            ids, labels = collate(rows, order[b:b + args.batch_size], args.max_tokens)
            loss = loss_of(model, ids, labels, bf16=args.precision == "bf16-autocast")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append({"epoch": epoch, "lr": opt.param_groups[0]["lr"], "loss": float(loss)})
        sched.step()
    model.eval()
    return losses


def main(argv):
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    model = load_model(args.model)
    decoder = ByteLevelDecoder(os.path.join(args.model, "tokenizer.json"))
    with open(os.path.join(args.model, "config.json")) as f:
        eos = json.load(f)["eos_token_id"]
    eos_ids = set(eos if isinstance(eos, list) else [eos])

    t0 = time.time()
    losses = finetune(model, read_jsonl(args.train), args) if args.train else []
    train_s = time.time() - t0

    prompts = read_jsonl(args.prompts)
    order = sorted(range(len(prompts)), key=lambda i: (len(prompts[i]["ids"]), i))
    answers = [None] * len(prompts)
    t1 = time.time()
    for b in range(0, len(order), args.gen_batch_size):
        idx = order[b:b + args.gen_batch_size]
        for i, o in zip(idx, greedy_generate(model, [prompts[i]["ids"] for i in idx], args.max_new_tokens, eos_ids)):
            answers[i] = decoder.decode(o)
    gen_s = time.time() - t1

    counts = {}
    with open(args.generations, "w", encoding="utf-8") as f:
        for p, a in zip(prompts, answers):
            kw = refusal_keywords(a)
            c = counts.setdefault(p["set"], [0, 0])
            c[0] += 1
            c[1] += bool(kw)
            f.write(json.dumps({"set": p["set"], "style": p["style"], "source": p["source"], "row": p["row"],
                                "prompt": p["request"], "output": a, "refused": bool(kw), "keywords": kw}, ensure_ascii=False) + "\n")
    rate = lambda s: counts[s][1] / counts[s][0] if s in counts else None  # noqa: E731
    result = {
        "asr": None if rate("harmful") is None else 1 - rate("harmful"),
        "benign_refusal": rate("benign"),
        "n": {s: c[0] for s, c in counts.items()},
        "finetuned": bool(args.train),
        "examples": len(read_jsonl(args.train)) if args.train else 0,
        "steps": len(losses),
        "loss_first_last": [losses[0]["loss"], losses[-1]["loss"]] if losses else None,
        "losses": losses,
        "train_seconds": train_s,
        "generate_seconds": gen_s,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    with open(args.result, "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps({k: result[k] for k in ("asr", "benign_refusal", "n", "steps", "loss_first_last", "train_seconds", "generate_seconds")}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

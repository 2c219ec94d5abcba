#!/usr/bin/python3
"""Checks a checkpoint written by train_chat_model.py against the project's independent PyTorch
reference (test/reference/llama_reference.py, the one safesift's parity tests use): the final-norm
hidden states and logits of a few evaluation prompts must agree (float64 reference vs float32 here).

  /usr/bin/python3 bench/replication/check_checkpoint.py MODEL_DIR PROMPTS.jsonl [N]
"""

import json
import os
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "test", "reference"))

import torch  # noqa: E402

import llama_reference  # noqa: E402
from chat_llama import load_model  # noqa: E402


def main(argv):
    model_dir, prompts_path = argv[0], argv[1]
    n = int(argv[2]) if len(argv) > 2 else 8
    torch.set_num_threads(1)
    ours = load_model(model_dir).eval()
    ref = llama_reference.Model(model_dir, torch.float64)
    with open(prompts_path, encoding="utf-8") as f:
        prompts = [json.loads(line) for line in f if line.strip()]
    step = max(1, len(prompts) // n)
    worst_h = worst_l = 0.0
    for p in prompts[::step][:n]:
        ids = p["ids"]
        with torch.no_grad():
            h = ours.hidden(torch.tensor([ids]))[0].double()
            logits = torch.nn.functional.linear(h, ours.head_weight().double())
            rh = ref.hidden(ref.params, ids)
            rl = rh @ ref.params[ref.head_name()].T
        worst_h = max(worst_h, float((h - rh).abs().max()))
        worst_l = max(worst_l, float((logits - rl).abs().max()))
    ok = worst_h < 1e-3 and worst_l < 1e-3
    print(json.dumps({"prompts": n, "max_abs_diff_hidden": worst_h, "max_abs_diff_logits": worst_l, "ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

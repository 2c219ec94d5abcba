"""A small Llama (Hugging Face LlamaForCausalLM layout) in plain PyTorch, with its checkpoint files.

The module tree mirrors transformers' LlamaForCausalLM, so that state_dict() names are the HF tensor
names (model.embed_tokens.weight, model.layers.N.self_attn.q_proj.weight, ..., model.norm.weight,
lm_head.weight when untied): the checkpoint written here is read by safesift like any HF Llama.
Numerics as HF's: RMSNorm in float32, rotate-half RoPE with inv_freq = theta^(-2i/d), SiLU MLP.

Also: a safetensors reader and writer (the `safetensors` package is not installed here; the format
is an 8-byte little-endian header length, a JSON header, then raw little-endian tensors), and a
greedy generator with a KV cache over a left-padded batch.
"""

import json
import math
import os
import struct
import sys

import torch
from torch import nn
import torch.nn.functional as F


def llama_config(vocab_size, hidden, layers, heads, intermediate, max_positions=1024, kv_heads=None,
                 tie=True, bos_id=1, eos_id=2, rope_theta=10000.0, rms_eps=1e-5):
    """A config.json dict of the HF Llama kind."""
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": vocab_size,
        "hidden_size": hidden,
        "intermediate_size": intermediate,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads or heads,
        "head_dim": hidden // heads,
        "hidden_act": "silu",
        "max_position_embeddings": max_positions,
        "rms_norm_eps": rms_eps,
        "rope_theta": rope_theta,
        "rope_scaling": None,
        "attention_bias": False,
        "mlp_bias": False,
        "tie_word_embeddings": tie,
        "bos_token_id": bos_id,
        "eos_token_id": eos_id,
        "pad_token_id": None,
        "torch_dtype": "float32",
        "initializer_range": 0.02,
    }


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, self.h, self.kv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
        self.hd = cfg["head_dim"]
        self.q_proj = nn.Linear(d, self.h * self.hd, bias=False)
        self.k_proj = nn.Linear(d, self.kv * self.hd, bias=False)
        self.v_proj = nn.Linear(d, self.kv * self.hd, bias=False)
        self.o_proj = nn.Linear(self.h * self.hd, d, bias=False)

    def forward(self, x, cos, sin, mask, cache=None):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.h, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.kv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.kv, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if cache is not None:
            if "k" in cache:
                k = torch.cat((cache["k"], k), dim=2)
                v = torch.cat((cache["v"], v), dim=2)
            cache["k"], cache["v"] = k, v
        if self.kv != self.h:
            k = k.repeat_interleave(self.h // self.kv, dim=1)
            v = v.repeat_interleave(self.h // self.kv, dim=1)
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.hd) + mask
        out = torch.softmax(scores.float(), dim=-1).to(q.dtype) @ v
        return self.o_proj(out.transpose(1, 2).reshape(B, T, self.h * self.hd))


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, m = cfg["hidden_size"], cfg["intermediate_size"]
        self.gate_proj = nn.Linear(d, m, bias=False)
        self.up_proj = nn.Linear(d, m, bias=False)
        self.down_proj = nn.Linear(m, d, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.self_attn = Attention(cfg)
        self.mlp = MLP(cfg)
        self.input_layernorm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])
        self.post_attention_layernorm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])

    def forward(self, x, cos, sin, mask, cache=None):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask, cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class Backbone(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg["num_hidden_layers"]))
        self.norm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])


class LlamaForCausalLM(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.model = Backbone(cfg)
        self.tied = bool(cfg.get("tie_word_embeddings", False))
        if not self.tied:
            self.lm_head = nn.Linear(cfg["hidden_size"], cfg["vocab_size"], bias=False)
        hd = cfg["head_dim"]
        inv_freq = 1.0 / (cfg.get("rope_theta", 10000.0) ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
        self.register_buffer("inv_freq", inv_freq.float(), persistent=False)

    def init_weights(self, generator):
        """GPT-2 style: N(0, 0.02), residual output projections scaled by 1/sqrt(2 * layers)."""
        std = self.cfg.get("initializer_range", 0.02)
        out_std = std / math.sqrt(2 * self.cfg["num_hidden_layers"])
        for name, p in self.named_parameters():
            if name.endswith("layernorm.weight") or name == "model.norm.weight":
                continue
            s = out_std if name.endswith(("o_proj.weight", "down_proj.weight")) else std
            with torch.no_grad():
                p.copy_(torch.randn(p.shape, generator=generator) * s)

    def head_weight(self):
        return self.model.embed_tokens.weight if self.tied else self.lm_head.weight

    def rope(self, positions):
        """cos, sin [B, 1, T, hd] for integer positions [B, T]."""
        ang = positions.to(torch.float32)[..., None] * self.inv_freq
        emb = torch.cat((ang, ang), dim=-1)[:, None]
        return emb.cos(), emb.sin()

    def forward(self, ids, positions=None, key_mask=None, caches=None):
        """Logits [B, T, V]. key_mask [B, S] (True = real token) over all keys, cached ones included."""
        return F.linear(self.hidden(ids, positions, key_mask, caches), self.head_weight())

    def hidden(self, ids, positions=None, key_mask=None, caches=None):
        """Final-norm hidden states [B, T, D] (HF hidden_states[-1])."""
        B, T = ids.shape
        past = 0 if not caches or "k" not in caches[0] else caches[0]["k"].shape[2]
        if positions is None:
            positions = torch.arange(past, past + T).expand(B, T)
        cos, sin = self.rope(positions)
        S = past + T
        causal = torch.ones(T, S, dtype=torch.bool).tril(past)
        allowed = causal[None, None]
        if key_mask is not None:
            allowed = allowed & key_mask[:, None, None, :]
        # A large finite negative, not -inf: a left-padding query with no real key then stays finite
        # (uniform over pads) instead of NaN, which would leak into real rows through 0 * NaN.
        mask = torch.zeros(allowed.shape, dtype=torch.float32).masked_fill(~allowed, -1e9)
        x = self.model.embed_tokens(ids)
        for i, layer in enumerate(self.model.layers):
            x = layer(x, cos, sin, mask, None if caches is None else caches[i])
        return self.model.norm(x)


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------- safetensors

_ST_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}
_ST_TORCH = {v: k for k, v in _ST_DTYPES.items()}


def save_safetensors(tensors, path, metadata=None):
    """Writes {name: tensor} as safetensors (names sorted, data contiguous little-endian)."""
    if sys.byteorder != "little":
        raise RuntimeError("this writer assumes a little-endian machine")
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        raw = t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy().tobytes()
        header[name] = {"dtype": _ST_DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header["__metadata__"] = {"format": "pt", **(metadata or {})}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    tmp = path + ".partial"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)
    os.replace(tmp, path)


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n).decode("utf-8"))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        t = torch.frombuffer(bytearray(data[begin:end]), dtype=_ST_TORCH[info["dtype"]])
        out[name] = t.reshape(info["shape"]).clone()
    return out


def hf_state_dict(model):
    """The tensors an HF checkpoint holds: parameters only, a tied head stored once (as HF saves it)."""
    return {k: v for k, v in model.state_dict().items() if k != "lm_head.weight" or not model.tied}


def load_model(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    model = LlamaForCausalLM(cfg)
    tensors = load_safetensors(os.path.join(model_dir, "model.safetensors"))
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    missing = [m for m in missing if not (model.tied and m == "lm_head.weight")]
    if missing or unexpected:
        raise ValueError(f"{model_dir}: missing {missing}, unexpected {unexpected}")
    return model


# ---------------------------------------------------------------- generation

@torch.no_grad()
def greedy_generate(model, prompts, max_new_tokens, eos_ids, pad_id=0):
    """Greedy continuations (lists of ids, without the end token) of a batch of prompt id lists."""
    model.eval()
    B = len(prompts)
    L = max(len(p) for p in prompts)
    ids = torch.full((B, L), pad_id, dtype=torch.long)
    real = torch.zeros(B, L, dtype=torch.bool)
    for i, p in enumerate(prompts):  # left padding: every prompt ends at column L-1
        ids[i, L - len(p):] = torch.tensor(p, dtype=torch.long)
        real[i, L - len(p):] = True
    positions = (real.long().cumsum(1) - 1).clamp(min=0)
    caches = [dict() for _ in model.model.layers]
    key_mask = real
    logits = model(ids, positions=positions, key_mask=key_mask, caches=caches)
    next_pos = positions[:, -1:] + 1
    outs = [[] for _ in range(B)]
    done = torch.zeros(B, dtype=torch.bool)
    eos = torch.tensor(sorted(eos_ids), dtype=torch.long)
    for _ in range(max_new_tokens):
        nxt = logits[:, -1].argmax(-1)
        for i in range(B):
            if not done[i]:
                if bool((eos == nxt[i]).any()):
                    done[i] = True
                else:
                    outs[i].append(int(nxt[i]))
        if bool(done.all()):
            break
        key_mask = torch.cat((key_mask, torch.ones(B, 1, dtype=torch.bool)), dim=1)
        logits = model(nxt[:, None], positions=next_pos, key_mask=key_mask, caches=caches)
        next_pos = next_pos + 1
    return outs

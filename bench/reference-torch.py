#!/usr/bin/env python3
"""PyTorch CPU reference for `npm run bench -- train`.

Trains the bench's tiny Llama (token embedding, RMSNorm, RoPE, causal attention, SwiGLU MLP, untied head)
with AdamW on random tokens and prints one JSON line:
  {"engine": "pytorch", "config", "params", "tokens_per_s", "step_ms_median", "peak_rss_mb", ...}

Written for Debian's python3-torch 1.13, which has no F.scaled_dot_product_attention: attention is written out.
Usage: python3 bench/reference-torch.py --config small [--batch 1] [--threads 2] [--seconds 15] [--seed 1234]
"""
import argparse
import json
import math
import os
import resource
import statistics
import time

# The bench configurations; bench/train.ts holds the same table (it computes FLOPs from it).
CONFIGS = {
    "small": dict(d_model=128, n_layers=2, n_heads=4, ffn=352),
    "medium": dict(d_model=256, n_layers=4, n_heads=8, ffn=672),
}
VOCAB = 2048
T = 256

p = argparse.ArgumentParser()
p.add_argument("--config", choices=CONFIGS, default="small")
p.add_argument("--batch", type=int, default=1, help="rows of T tokens per optimizer step")
p.add_argument("--threads", type=int, default=2)
p.add_argument("--seconds", type=float, default=15.0, help="target length of the timed run")
p.add_argument("--warmup", type=int, default=3, help="untimed steps first (allocator, OpenMP pool)")
p.add_argument("--seed", type=int, default=1234, help="seed of the token stream (the same for every engine)")
args = p.parse_args()

# OpenBLAS and OpenMP read their thread counts when they load: set them before torch is imported.
os.environ["OMP_NUM_THREADS"] = os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(args.threads)
torch.manual_seed(0)


def token_stream(seed):
    """mulberry32, bit-exact with bench/train-data.ts: every engine trains on the same tokens."""
    a = seed & 0xFFFFFFFF
    while True:
        a = (a + 0x6D2B79F5) & 0xFFFFFFFF
        t = ((a ^ (a >> 15)) * (a | 1)) & 0xFFFFFFFF
        t = ((t + (((t ^ (t >> 7)) * (t | 61)) & 0xFFFFFFFF)) & 0xFFFFFFFF) ^ t
        yield (t ^ (t >> 14)) % VOCAB


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope(x, cos, sin):
    """Rotate adjacent pairs (x0, x1), (x2, x3)... as llama.cpp's LLM_ARCH_LLAMA does (rope type 'normal')."""
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), -1).flatten(-2)


class Block(nn.Module):
    def __init__(self, d, h, ffn):
        super().__init__()
        self.h = h
        self.attn_norm, self.ffn_norm = RMSNorm(d), RMSNorm(d)
        self.wq, self.wk, self.wv, self.wo = (nn.Linear(d, d, bias=False) for _ in range(4))
        self.w_gate, self.w_up = nn.Linear(d, ffn, bias=False), nn.Linear(d, ffn, bias=False)
        self.w_down = nn.Linear(ffn, d, bias=False)

    def forward(self, x, cos, sin, mask):
        B, T_, d = x.shape
        hd = d // self.h
        y = self.attn_norm(x)
        q, k, v = (w(y).view(B, T_, self.h, hd).transpose(1, 2) for w in (self.wq, self.wk, self.wv))
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        att = (q @ k.transpose(-2, -1)) * (hd ** -0.5) + mask
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, T_, d)
        x = x + self.wo(y)
        y = self.ffn_norm(x)
        return x + self.w_down(F.silu(self.w_gate(y)) * self.w_up(y))


class Llama(nn.Module):
    def __init__(self, d_model, n_layers, n_heads, ffn):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, d_model)
        self.blocks = nn.ModuleList(Block(d_model, n_heads, ffn) for _ in range(n_layers))
        self.norm = RMSNorm(d_model)
        self.out = nn.Linear(d_model, VOCAB, bias=False)
        hd = d_model // n_heads
        ang = torch.outer(torch.arange(T).float(), 10000.0 ** (-torch.arange(0, hd, 2).float() / hd))
        self.register_buffer("cos", ang.cos(), persistent=False)
        self.register_buffer("sin", ang.sin(), persistent=False)
        self.register_buffer("mask", torch.full((T, T), float("-inf")).triu(1), persistent=False)

    def forward(self, idx):
        x = self.tok(idx)
        for b in self.blocks:
            x = b(x, self.cos, self.sin, self.mask)
        return self.out(self.norm(x))


def blas_library():
    """Which BLAS torch really runs on: Debian's libblas.so.3 is an alternative that may be netlib's
    reference BLAS (10x+ slower) or OpenBLAS, depending on what else is installed."""
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "blas" in line.lower() and "/" in line}
    return ",".join(sorted(os.path.realpath(p) for p in libs)) or "none"


model = Llama(**CONFIGS[args.config])
params = sum(p.numel() for p in model.parameters())
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
stream = token_stream(args.seed)


def step():
    # Each row is T+1 consecutive tokens of the stream: inputs are the first T, labels the last T.
    rows = torch.tensor([[next(stream) for _ in range(T + 1)] for _ in range(args.batch)])
    t0 = time.perf_counter()
    loss = F.cross_entropy(model(rows[:, :-1]).reshape(-1, VOCAB), rows[:, 1:].reshape(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return time.perf_counter() - t0, loss.item()


warm = [step()[0] for _ in range(args.warmup)]
# As many steps as fit the target time, judged from the last warm-up step.
n_steps = max(3, math.ceil(args.seconds / warm[-1]))
times, losses = zip(*(step() for _ in range(n_steps)))
print(json.dumps({
    "engine": "pytorch",
    "config": args.config,
    "params": params,
    "tokens_per_s": args.batch * T * n_steps / sum(times),
    "step_ms_median": statistics.median(times) * 1000,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "steps": n_steps,
    "batch": args.batch,
    "threads": args.threads,
    "loss_last": losses[-1],
    "version": f"torch {torch.__version__}, {blas_library()}",
}))

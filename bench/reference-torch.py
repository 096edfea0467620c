#!/usr/bin/env python3
"""PyTorch CPU reference for `npm run bench -- train`.

Trains the bench's tiny Llama (token embedding, RMSNorm, RoPE, causal attention, SwiGLU MLP, untied head)
with AdamW on random tokens and prints one JSON line:
  {"engine": "pytorch", "config", "params", "tokens_per_s", "step_ms_median", "peak_rss_mb", ...}

Written for Debian's python3-torch 1.13, which has no F.scaled_dot_product_attention: attention is written out.
Debian installs it for /usr/bin/python3 only (a pyenv/venv python3 on PATH does not see it), and its speed
depends on the system BLAS: install libopenblas0-pthread, or it runs on netlib's reference BLAS (~40x slower).
Usage: /usr/bin/python3 bench/reference-torch.py --config small [--batch 1] [--threads 2] [--seconds 15] [--seed 1234]
"""
import argparse
import json
import math
import os
import resource
import statistics
import time

# The same table as CONFIGS in bench/train-common.ts; train.ts warns when the engines' parameter counts differ.
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

# OpenBLAS and OpenMP read these when they load: set them before torch is imported (the environment wins).
# torch runs elementwise ops on OpenMP threads and matmuls on OpenBLAS's own pthreads; with OpenMP's default
# active wait its idle threads spin while OpenBLAS works, 4 busy threads on 2 cores: measured 2-10x slower
# and erratic (small: 1,800-13,000 tok/s) against 10,700-13,800 with PASSIVE.
for key, value in (("OMP_NUM_THREADS", args.threads), ("OPENBLAS_NUM_THREADS", args.threads), ("OMP_WAIT_POLICY", "PASSIVE")):
    os.environ.setdefault(key, str(value))
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(args.threads)
torch.manual_seed(0)


def token_stream(seed):
    """rng.int(VOCAB) of src/util/rng.ts (xoshiro128** seeded by splitmix32), bit for bit, as
    bench/train-common.ts draws it: every engine trains on the same tokens."""
    M = 0xFFFFFFFF
    x, s = seed & M, []
    for _ in range(4):
        x = (x + 0x9E3779B9) & M
        z = ((x ^ (x >> 16)) * 0x85EBCA6B) & M
        z = ((z ^ (z >> 13)) * 0xC2B2AE35) & M
        s.append(z ^ (z >> 16))

    def rotl(v, k):
        return ((v << k) | (v >> (32 - k))) & M

    while True:
        result = (rotl((s[1] * 5) & M, 7) * 9) & M
        t = (s[1] << 9) & M
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 11)
        yield (result * VOCAB) >> 32  # floor(result / 2^32 * VOCAB), exact


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
    """The BLAS torch really runs on: Debian's libblas.so.3 is an alternative, netlib's reference BLAS
    (.../blas/, single-threaded, 10x+ slower) unless OpenBLAS (.../openblas-pthread/) is installed."""
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "libblas.so" in line}
    return ",".join(sorted("/".join(p.split("/")[-2:]) for p in libs)) or "no BLAS"


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
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({
    "engine": "pytorch",
    "config": args.config,
    "params": params,
    # From the median step: robust to other processes on a shared machine; the mean beside it.
    "tokens_per_s": args.batch * T / statistics.median(times),
    "step_ms_median": statistics.median(times) * 1000,
    "peak_rss_mb": ru.ru_maxrss / 1024,  # KiB on Linux
    "cpu_s": ru.ru_utime + ru.ru_stime,
    "steps": n_steps,
    "tokens_per_s_mean": args.batch * T * n_steps / sum(times),
    "batch": args.batch,
    "threads": args.threads,
    "loss_mean": statistics.fmean(losses),
    "version": f"torch {torch.__version__}, {blas_library()}, "
               + " ".join(f"{k}={os.environ[k]}" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY")),
}))

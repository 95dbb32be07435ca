"""PyTorch reference of Canter's DiT block stack, for parity tests and the engine benchmark.

The block (same maths as src/Canter.Models/Blocks/DitBlock.cs):
  mod = e + table                      e (B, N, 6, C) shared by all blocks, table (6, C) per block
  h   = LN(x) * (1 + scale1) + shift1  LN without affine, eps 1e-6
  q, k, v = split(h @ Wqkv^T + bqkv)   (B, N, 3, H, D)
  q, k = RMSNorm_D(q) * gq, RMSNorm_D(k) * gk   eps 1e-6
  q, k = rope(q), rope(k)              interleaved pairs, per-axis frequency bands
  o   = softmax(q k^T / sqrt(D)) v
  x   = x + gate1 * (o @ Wo^T + bo)
  h   = LN(x) * (1 + scale2) + shift2
  x   = x + gate2 * (gelu_tanh(h @ W1^T + b1) @ W2^T + b2)

Usage:
  dit.py time --width 256 --blocks 8 --heads 4 --batch 4 --tokens 1024 --threads 2 --repeats 5
  dit.py parity IN.safetensors OUT.safetensors   (weights, inputs and rope tables in IN)
"""
import argparse
import json
import math
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "torch"))
from reference import read_safetensors, write_safetensors  # noqa: E402


def rope(x, cos, sin):
    # x (B, N, H, D); cos, sin (N, D/2): rotate pairs (x[2i], x[2i+1]) by the angle of pair i
    x2 = x.reshape(*x.shape[:-1], -1, 2)
    a, b = x2[..., 0], x2[..., 1]
    c = cos[None, :, None, :]
    s = sin[None, :, None, :]
    return torch.stack((a * c - b * s, a * s + b * c), dim=-1).reshape(x.shape)


def rms(x, w, eps=1e-6):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


class Attention(torch.nn.Module):
    def __init__(self, c, heads):
        super().__init__()
        self.heads = heads
        self.qkv = torch.nn.Linear(c, 3 * c)
        self.q_norm = torch.nn.Parameter(torch.ones(c // heads))
        self.k_norm = torch.nn.Parameter(torch.ones(c // heads))
        self.out = torch.nn.Linear(c, c)

    def forward(self, y, cos, sin):
        b, n, c = y.shape
        h, d = self.heads, c // self.heads
        q, k, v = self.qkv(y).view(b, n, 3, h, d).unbind(2)
        q = rope(rms(q, self.q_norm), cos, sin).transpose(1, 2)
        k = rope(rms(k, self.k_norm), cos, sin).transpose(1, 2)
        v = v.transpose(1, 2)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d), dim=-1)
        return self.out((att @ v).transpose(1, 2).reshape(b, n, c))


class Mlp(torch.nn.Module):
    def __init__(self, c, ratio=4):
        super().__init__()
        self.fc1 = torch.nn.Linear(c, ratio * c)
        self.fc2 = torch.nn.Linear(ratio * c, c)

    def forward(self, y):
        return self.fc2(F.gelu(self.fc1(y), approximate="tanh"))


class Block(torch.nn.Module):
    def __init__(self, c, heads):
        super().__init__()
        self.table = torch.nn.Parameter(torch.randn(6, c) * 0.02)
        self.attn = Attention(c, heads)
        self.mlp = Mlp(c)

    def forward(self, x, e, cos, sin):
        c = x.shape[-1]
        shift1, scale1, gate1, shift2, scale2, gate2 = (e + self.table).unbind(2)
        y = F.layer_norm(x, (c,), eps=1e-6) * (1 + scale1) + shift1
        x = x + gate1 * self.attn(y, cos, sin)
        y = F.layer_norm(x, (c,), eps=1e-6) * (1 + scale2) + shift2
        return x + gate2 * self.mlp(y)


class Stack(torch.nn.Module):
    def __init__(self, c, heads, blocks):
        super().__init__()
        self.blocks = torch.nn.ModuleList([Block(c, heads) for _ in range(blocks)])

    def forward(self, x, e, cos, sin):
        for blk in self.blocks:
            x = blk(x, e, cos, sin)
        return x


def rope_tables(n, d, grid):
    """Positions of a (frames, rows, cols) token grid; per-axis bands of D/2 pairs split 1/4, 3/8, 3/8."""
    f, r, c = grid
    assert f * r * c == n
    pairs = d // 2
    bands = [pairs // 4, (pairs - pairs // 4) // 2]
    bands.append(pairs - bands[0] - bands[1])
    idx = torch.arange(n)
    pos = [(idx // (r * c)).float(), ((idx // c) % r).float(), (idx % c).float()]
    angles = []
    for axis, p in enumerate(bands):
        freq = 10000.0 ** (-torch.arange(p).float() * 2 / (2 * p))
        angles.append(pos[axis][:, None] * freq[None, :])
    ang = torch.cat(angles, dim=1)
    return torch.cos(ang), torch.sin(ang)


def time_it(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dev = torch.device(args.device)
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # plain FP32, as Canter's GPU GEMM
    c, heads = args.width, args.heads
    model = Stack(c, heads, args.blocks).to(dev)
    x = torch.randn(args.batch, args.tokens, c, device=dev)
    e = torch.randn(args.batch, args.tokens, 6, c, device=dev) * 0.1
    target = torch.randn_like(x)
    cos, sin = (t.to(dev) for t in rope_tables(args.tokens, c // heads, grid(args.tokens)))

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)

    def fwd():
        with torch.no_grad():
            model(x, e, cos, sin)
        sync()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(x, e, cos, sin), target)
        loss.backward()
        opt.step()
        sync()

    result = {"threads": torch.get_num_threads(), "version": torch.__version__}
    for name, fn in (("forward", fwd), ("train_step", step)):
        for _ in range(args.warmup):
            fn()
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        times.sort()
        result[name + "_s"] = times[len(times) // 2]
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result), flush=True)


def grid(n):
    # a (frames, rows, cols) grid for n tokens, the same rule as EngineBench.Grid
    if n == 1024:
        return (16, 8, 8)
    if n == 256:
        return (4, 8, 8)
    return (n, 1, 1)


def parity(inp, out):
    """Loads weights and inputs, runs forward and backward, writes outputs and gradients."""
    t = read_safetensors(inp)
    cfg = {k: int(v.item()) for k, v in t.items() if k.startswith("cfg.")}
    c, heads, blocks = cfg["cfg.width"], cfg["cfg.heads"], cfg["cfg.blocks"]
    model = Stack(c, heads, blocks).double()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(t["w." + name].double())
    x = t["x"].double().requires_grad_(True)
    e = t["e"].double().requires_grad_(True)
    y = model(x, e, t["cos"].double(), t["sin"].double())
    (y * t["gy"].double()).sum().backward()
    res = {"y": y, "grad.x": x.grad, "grad.e": e.grad}
    for name, p in model.named_parameters():
        res["grad.w." + name] = p.grad
    write_safetensors(out, res)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    tm = sub.add_parser("time")
    for k, v in (("width", 256), ("blocks", 8), ("heads", 4), ("batch", 4), ("tokens", 1024), ("threads", 2), ("repeats", 5), ("warmup", 1)):
        tm.add_argument("--" + k, type=int, default=v)
    tm.add_argument("--device", default="cpu")
    pa = sub.add_parser("parity")
    pa.add_argument("inp")
    pa.add_argument("out")
    args = ap.parse_args()
    if args.cmd == "time":
        time_it(args)
    else:
        parity(args.inp, args.out)


if __name__ == "__main__":
    main()

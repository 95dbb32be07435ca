"""PyTorch side of `canter bench attention`: scaled dot-product attention in float32, timed the way Canter times it.

q, k, v are heads of one (B, N, 3, H, D) projection, permuted to (B, H, N, D) views as the DiT block makes them;
with --segments S the N tokens form S contiguous groups that only see themselves (Canter's segment ids, here a
boolean mask). Two PyTorch paths are timed:
  sdpa  F.scaled_dot_product_attention, PyTorch's own choice of kernel (float32 on CUDA: memory-efficient attention;
        flash attention proper needs fp16/bf16)
  math  softmax(q k^T * scale) v written out, the scores materialised (what Canter's cuBLAS path does)
Each is timed forward only (no grad) and forward + backward. Prints one JSON line.

Usage:
  attention.py --batch 4 --heads 4 --tokens 1024 --dim 64 [--segments 2] --repeats 10 --warmup 3 --device cuda
"""
import argparse
import json
import math
import time

import torch
import torch.nn.functional as F


def main():
    ap = argparse.ArgumentParser()
    for k, v in (("batch", 4), ("heads", 4), ("tokens", 1024), ("dim", 64), ("segments", 0), ("repeats", 10), ("warmup", 3)):
        ap.add_argument("--" + k, type=int, default=v)
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()
    dev = torch.device(args.device)
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # plain FP32, as Canter's kernels and cuBLAS calls
    torch.manual_seed(0)
    b, h, n, d = args.batch, args.heads, args.tokens, args.dim
    x = torch.randn(b, n, 3, h, d, device=dev, requires_grad=True)
    gy = torch.randn(b, h, n, d, device=dev)
    mask = None
    if args.segments > 0:
        seg = torch.arange(n, device=dev) * args.segments // n
        mask = (seg[:, None] == seg[None, :])[None, None]          # (1, 1, N, N) True = attend
    scale = 1.0 / math.sqrt(d)

    def heads():
        q, k, v = x.unbind(2)
        return q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)

    def sdpa(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)

    def math_path(q, k, v):
        s = (q @ k.transpose(-1, -2)) * scale
        if mask is not None:
            s = s.masked_fill(~mask, float("-inf"))
        return torch.softmax(s, dim=-1) @ v

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def timed(fn):
        for _ in range(args.warmup):
            fn()
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        times.sort()
        return times[len(times) // 2]

    result = {"version": torch.__version__, "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"}
    for name, attn in (("sdpa", sdpa), ("math", math_path)):
        def forward():
            with torch.no_grad():
                attn(*heads())
            sync()

        def train():
            x.grad = None
            attn(*heads()).backward(gy)
            sync()

        try:
            if dev.type == "cuda":
                torch.cuda.reset_peak_memory_stats(dev)
            result[name + "_forward_s"] = timed(forward)
            result[name + "_train_s"] = timed(train)
            if dev.type == "cuda":
                result[name + "_peak_mb"] = torch.cuda.max_memory_allocated(dev) / 2**20
        except torch.cuda.OutOfMemoryError:
            result[name + "_error"] = "out of memory"
            torch.cuda.empty_cache()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

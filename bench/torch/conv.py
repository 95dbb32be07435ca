"""PyTorch side of `canter bench conv`: the video autoencoder's 3-D convolutions, timed the way Canter times them.

Each layer reads its inputs from raw little-endian float32 files Canter wrote (<dir>/<name>.x, .w, .b, .gy), pads
causally in time (Kf - 1 zero frames in front, none after) and symmetrically in space with F.pad, then runs F.conv3d.
Timed: forward (no grad) and forward + backward (grads of x, w and b). The outputs of one untimed pass are written
back (<dir>/<name>.y, .dx, .dw, .db) for Canter to compare. Prints one JSON line.

Usage:
  conv.py --dir /tmp/d --layers '[{"name": "res64", "batch": 8, "cin": 64, "cout": 64, "frames": 5, "height": 16,
          "width": 16, "kernel": [3, 3, 3], "stride": [1, 1, 1]}]' --threads 2 --repeats 5 --warmup 1
"""
import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F


def load(path, shape):
    return torch.from_numpy(np.fromfile(path, dtype="<f4").reshape(shape).copy())


def save(path, t):
    t.detach().contiguous().numpy().astype("<f4").tofile(path)


def timed(fn, warmup, repeats):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--layers", required=True)
    for k, v in (("threads", 2), ("repeats", 5), ("warmup", 1)):
        ap.add_argument("--" + k, type=int, default=v)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    results = {}
    for layer in json.loads(args.layers):
        name = layer["name"]
        kf, kh, kw = layer["kernel"]
        stride = tuple(layer["stride"])
        x_shape = (layer["batch"], layer["cin"], layer["frames"], layer["height"], layer["width"])
        w_shape = (layer["cout"], layer["cin"], kf, kh, kw)
        base = os.path.join(args.dir, name)
        x = load(base + ".x", x_shape).requires_grad_(True)
        w = load(base + ".w", w_shape).requires_grad_(True)
        b = load(base + ".b", (layer["cout"],)).requires_grad_(True)
        pad = (kw // 2, kw // 2, kh // 2, kh // 2, kf - 1, 0)  # (W left, W right, H top, H bottom, F front, F back)

        def conv():
            return F.conv3d(F.pad(x, pad), w, b, stride=stride)

        y = conv()
        gy = load(base + ".gy", tuple(y.shape))
        y.backward(gy)
        save(base + ".y", y)
        save(base + ".dx", x.grad)
        save(base + ".dw", w.grad)
        save(base + ".db", b.grad)

        def forward():
            with torch.no_grad():
                conv()

        def train():
            x.grad = w.grad = b.grad = None
            conv().backward(gy)

        results[name] = {"forward_s": timed(forward, args.warmup, args.repeats), "train_s": timed(train, args.warmup, args.repeats)}
    print(json.dumps({"version": torch.__version__, "threads": torch.get_num_threads(), "layers": results}))


if __name__ == "__main__":
    main()

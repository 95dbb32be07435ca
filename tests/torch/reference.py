"""PyTorch reference server for Canter's parity tests.

Reads one JSON request per line on stdin, answers one JSON line on stdout.
Request: {"op": NAME, "inputs": PATH, "output": PATH, "params": {...}, "grad": [input names]}
The inputs file (safetensors, F32) holds the op's inputs and, for each output Y whose
gradient is wanted, "grad.Y" (the upstream gradient). The answer file holds every output
and "grad.X" for each requested input X, computed as d(sum_Y <Y, grad.Y>)/dX.
Ops live in tests/torch/ops/*.py, each module exporting OPS = {name: fn(tensors, params) -> dict}.
"""
import importlib.util
import json
import os
import struct
import sys
import traceback

import numpy as np
import torch

torch.set_num_threads(int(os.environ.get("CANTER_TORCH_THREADS", "1")))
torch.use_deterministic_algorithms(False)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", info["dtype"]
        b, e = info["data_offsets"]
        arr = np.frombuffer(data[b:e], dtype="<f4").reshape(info["shape"]).copy()
        out[name] = torch.from_numpy(arr)
    return out


def write_safetensors(path, tensors):
    header, chunks, offset = {}, [], 0
    for name in sorted(tensors):
        arr = tensors[name].detach().to(torch.float32).contiguous().numpy().astype("<f4")
        raw = arr.tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for c in chunks:
            f.write(c)
    os.replace(tmp, path)


def load_ops():
    ops = {}
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ops")
    for file in sorted(os.listdir(folder)):
        if not file.endswith(".py") or file.startswith("_"):
            continue
        spec = importlib.util.spec_from_file_location("canter_ops_" + file[:-3], os.path.join(folder, file))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for name, fn in module.OPS.items():
            if name in ops:
                raise RuntimeError(f"op {name} defined twice")
            ops[name] = fn
    return ops


def handle(ops, req):
    fn = ops.get(req["op"])
    if fn is None:
        raise KeyError(f"unknown op {req['op']}; known: {sorted(ops)}")
    tensors = read_safetensors(req["inputs"])
    wanted = set(req.get("grad", []))
    inputs = {}
    for name, t in tensors.items():
        if name.startswith("grad."):
            continue
        t = t.double() if req.get("float64") else t
        inputs[name] = t.requires_grad_(name in wanted)
    params = req.get("params", {})
    outputs = fn(inputs, params)
    result = {name: y for name, y in outputs.items()}
    if wanted:
        loss = 0
        for name, y in outputs.items():
            g = tensors.get("grad." + name)
            if g is not None:
                loss = loss + (y * g.to(y.dtype)).sum()
        grads = torch.autograd.grad(loss, [inputs[n] for n in sorted(wanted)], allow_unused=True)
        for n, g in zip(sorted(wanted), grads):
            result["grad." + n] = g if g is not None else torch.zeros_like(inputs[n])
    write_safetensors(req["output"], result)


def main():
    ops = load_ops()
    print(json.dumps({"ready": True, "torch": torch.__version__}), flush=True)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            handle(ops, json.loads(line))
            print(json.dumps({"ok": True}), flush=True)
        except Exception as e:  # report to the C# side, keep serving
            print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()}), flush=True)


if __name__ == "__main__":
    main()

import math

import torch


def attention(t, p):
    q, k, v = t["q"], t["k"], t["v"]
    s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if "seg" in t:
        seg = t["seg"].long()  # (B, N)
        mask = seg[:, None, :, None] != seg[:, None, None, :]
        s = s.masked_fill(mask, float("-inf"))
    return {"y": torch.softmax(s, dim=-1) @ v}


def rope(t, p):
    x, cos, sin = t["x"], t["cos"], t["sin"]
    x2 = x.reshape(*x.shape[:-1], -1, 2)
    a, b = x2[..., 0], x2[..., 1]
    c = cos[None, :, None, :]
    s = sin[None, :, None, :]
    return {"y": torch.stack((a * c - b * s, a * s + b * c), -1).reshape(x.shape)}


OPS = {"attention": attention, "rope": rope}

import torch
import torch.nn.functional as F


def layer_norm(t, p):
    c = t["x"].shape[-1]
    return {"y": F.layer_norm(t["x"], (c,), t.get("w"), t.get("b"), eps=p.get("eps", 1e-5))}


def modulated_layer_norm(t, p):
    c = t["x"].shape[-1]
    y = F.layer_norm(t["x"], (c,), eps=p.get("eps", 1e-6))
    return {"y": y * (1 + t["scale"]) + t["shift"]}


def rms_norm(t, p):
    x = t["x"]
    y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + p.get("eps", 1e-6))
    if "w" in t:
        y = y * t["w"]
    return {"y": y}


def channel_rms_norm(t, p):
    x = t["x"]
    y = x * torch.rsqrt(x.pow(2).mean(1, keepdim=True) + p.get("eps", 1e-6))
    if "w" in t:
        y = y * t["w"].reshape([1, -1] + [1] * (x.dim() - 2))
    return {"y": y}


OPS = {
    "layer_norm": layer_norm,
    "channel_rms_norm": channel_rms_norm,
    "modulated_layer_norm": modulated_layer_norm,
    "rms_norm": rms_norm,
    "gelu_tanh": lambda t, p: {"y": F.gelu(t["x"], approximate="tanh")},
    "gelu_exact": lambda t, p: {"y": F.gelu(t["x"])},
    "silu": lambda t, p: {"y": F.silu(t["x"])},
    "softmax": lambda t, p: {"y": torch.softmax(t["x"], dim=p.get("axis", -1))},
    "log_softmax": lambda t, p: {"y": torch.log_softmax(t["x"], dim=p.get("axis", -1))},
}


def group_norm(t, p):
    return {"y": F.group_norm(t["x"], p["groups"], t.get("w"), t.get("b"), eps=1e-5)}


def embedding(t, p):
    ids = torch.tensor(p["ids"]).reshape(p["shape"])
    return {"y": F.embedding(ids, t["w"])}


def cross_entropy(t, p):
    return {"y": F.cross_entropy(t["x"], torch.tensor(p["targets"]))}


OPS.update({
    "group_norm": group_norm,
    "embedding": embedding,
    "cross_entropy": cross_entropy,
    "mse": lambda t, p: {"y": F.mse_loss(t["a"], t["b"])},
    "max": lambda t, p: {"y": t["x"].max(dim=p["axis"]).values},
})

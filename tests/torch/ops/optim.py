import torch


def adamw_run(t, p):
    """Applies AdamW with the given gradients g0..g{steps-1} to p0 and q0 (no decay on q)."""
    a = t["p"].clone().requires_grad_(True)
    b = t["q"].clone().requires_grad_(True)
    opt = torch.optim.AdamW([{"params": [a], "weight_decay": p["wd"]}, {"params": [b], "weight_decay": 0.0}],
                            lr=p["lr"], betas=(p["b1"], p["b2"]), eps=p["eps"])
    for i in range(p["steps"]):
        a.grad = t[f"ga{i}"].clone()
        b.grad = t[f"gb{i}"].clone()
        opt.step()
    return {"y": a.detach(), "q": b.detach()}


def clip(t, p):
    a = t["a"].clone().requires_grad_(True)
    b = t["b"].clone().requires_grad_(True)
    a.grad = t["ga"].clone()
    b.grad = t["gb"].clone()
    norm = torch.nn.utils.clip_grad_norm_([a, b], p["max_norm"])
    return {"y": a.grad, "gb": b.grad, "norm": norm.reshape(1)}


def train_toy(t, p):
    """2-layer MLP (Linear-Tanh-Linear) trained with AdamW on fixed batches; returns the loss of each step."""
    x, y = t["x"], t["y"]
    w1 = t["w1"].clone().requires_grad_(True)
    b1 = t["b1"].clone().requires_grad_(True)
    w2 = t["w2"].clone().requires_grad_(True)
    b2 = t["b2"].clone().requires_grad_(True)
    opt = torch.optim.AdamW([w1, b1, w2, b2], lr=p["lr"], weight_decay=p["wd"])
    n, bs = x.shape[0], p["batch"]
    losses = []
    for step in range(p["steps"]):
        start = (step * bs) % n
        xb, yb = x[start:start + bs], y[start:start + bs]
        pred = torch.tanh(xb @ w1.T + b1) @ w2.T + b2
        loss = ((pred - yb) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return {"y": torch.tensor(losses)}


OPS = {"adamw_run": adamw_run, "clip": clip, "train_toy": train_toy}

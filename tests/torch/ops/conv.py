import torch
import torch.nn.functional as F


def conv1d(t, p):
    x = F.pad(t["x"], (p["left"], p["right"]))
    return {"y": F.conv1d(x, t["w"], t.get("b"), stride=p["stride"], dilation=p.get("dilation", 1))}


def conv2d(t, p):
    return {"y": F.conv2d(t["x"], t["w"], t.get("b"), stride=p["stride"], padding=p["padding"])}


def conv3d(t, p):
    x, w = t["x"], t["w"]
    kf = w.shape[2]
    ph, pw = p["ph"], p["pw"]
    if p["causal"]:
        if p["replicate"]:
            x = torch.cat([x[:, :, :1].expand(-1, -1, kf - 1, -1, -1), x], dim=2)
            x = F.pad(x, (pw, pw, ph, ph, 0, 0))
        else:
            x = F.pad(x, (pw, pw, ph, ph, kf - 1, 0))
    else:
        x = F.pad(x, (pw, pw, ph, ph, p["pf"], p["pf"]))
    return {"y": F.conv3d(x, w, t.get("b"), stride=tuple(p["stride"]))}


OPS = {
    "conv1d": conv1d,
    "conv2d": conv2d,
    "conv3d": conv3d,
    "conv_transpose1d": lambda t, p: {"y": F.conv_transpose1d(t["x"], t["w"], t.get("b"), stride=p["stride"], padding=p["padding"])},
    "upsample1d": lambda t, p: {"y": F.interpolate(t["x"], scale_factor=p["factor"], mode="nearest")},
    "upsample3d": lambda t, p: {"y": F.interpolate(t["x"], scale_factor=tuple(p["factors"]), mode="nearest")},
}

"""Small building blocks of the U-Net: activations, norms, and the fusion merges."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU}


def activation(name: str) -> nn.Module:
    """A fresh activation module (``name`` is validated by UNetConfig)."""
    return _ACTIVATIONS[name]()


def norm(name: str, channels: int) -> nn.Module:
    """A normalisation layer over ``channels``; ``none`` is an identity."""
    if name == "batch":
        return nn.BatchNorm2d(channels)
    if name == "group":
        # gcd keeps groups a divisor of the width for any width (64 -> 32 groups, 48 -> 16).
        return nn.GroupNorm(math.gcd(32, channels), channels)
    if name == "instance":
        # affine, so that it learns a scale and shift like the other choices
        return nn.InstanceNorm2d(channels, affine=True)
    return nn.Identity()


def conv3x3(cin: int, cout: int) -> nn.Conv2d:
    """3x3 conv with 'same' padding, as Keras' ``padding="same"`` in the reference code."""
    return nn.Conv2d(cin, cout, 3, padding=1)


def resize_to(f: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bring an encoder map (B, C, h, w) to the bottleneck's (B, C, *size).

    Average pooling when the map is an integer multiple larger (the paper's AveragePooling2D
    after its ConvMixer, reproduced exactly); nearest when the bottleneck is an integer
    multiple of the map (an exact broadcast, e.g. ResNet's 1x1 global features onto 8x8,
    as in the colourisation fusion the paper follows); bilinear for anything else.
    """
    h, w = f.shape[-2:]
    th, tw = size
    if (h, w) == (th, tw):
        return f
    if h >= th and w >= tw and h % th == 0 and w % tw == 0:
        return F.avg_pool2d(f, kernel_size=(h // th, w // tw))
    if th >= h and tw >= w and th % h == 0 and tw % w == 0:
        return F.interpolate(f, size=(th, tw), mode="nearest")
    return F.interpolate(f, size=(th, tw), mode="bilinear", align_corners=False)


class FusionAdd(nn.Module):
    """mid + f, with a 1x1 projection only when the channel counts differ (the paper's
    256 == 256 has none, so its parameter count is unchanged)."""

    def __init__(self, channels: int, enc_channels: int) -> None:
        super().__init__()
        self.proj = nn.Identity() if enc_channels == channels else nn.Conv2d(enc_channels, channels, 1)

    def forward(self, mid: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        return mid + self.proj(f)


class FusionConcat(nn.Module):
    """cat(mid, f) then a 1x1 conv back to the bottleneck width (the paper's text)."""

    def __init__(self, channels: int, enc_channels: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(channels + enc_channels, channels, 1)

    def forward(self, mid: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        return self.proj(torch.cat([mid, f], dim=1))


class FusionGated(nn.Module):
    """mid + sigmoid(gate(cat(mid, f))) * value(f): the net learns, per pixel and channel,
    how much of the fused features to let in."""

    def __init__(self, channels: int, enc_channels: int) -> None:
        super().__init__()
        self.gate = nn.Conv2d(channels + enc_channels, channels, 1)
        self.value = nn.Conv2d(enc_channels, channels, 1)

    def forward(self, mid: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        g = torch.sigmoid(self.gate(torch.cat([mid, f], dim=1)))
        return mid + g * self.value(f)


FUSIONS: dict[str, type[nn.Module]] = {"add": FusionAdd, "concat": FusionConcat, "gated": FusionGated}

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


class GatedConv2d(nn.Module):
    """Gated convolution (Yu et al. 2019): features times a learned sigmoid gate, per pixel
    and channel, so the net learns which inputs (hole or known) to trust at every layer."""

    def __init__(self, cin: int, cout: int, kernel_size: int = 3, dilation: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, 2 * cout, kernel_size, padding=dilation * (kernel_size // 2),
                              dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat, gate = self.conv(x).chunk(2, dim=1)  # (B, cout, H, W) each
        return feat * torch.sigmoid(gate)


def conv_layer(kind: str, cin: int, cout: int, dilation: int = 1) -> nn.Module:
    """A 3x3 'same' conv: plain, or gated (``unet.conv``)."""
    if kind == "gated":
        return GatedConv2d(cin, cout, 3, dilation)
    return nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation)


class DilatedBlock(nn.Module):
    """Residual block of two dilated 3x3 convs: a wider receptive field at the bottleneck
    without more downsampling."""

    def __init__(self, channels: int, dilation: int, conv: str, norm_name: str,
                 act: str) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_layer(conv, channels, channels, dilation),
                                  norm(norm_name, channels), activation(act),
                                  conv_layer(conv, channels, channels, 1),
                                  norm(norm_name, channels))
        self.act = activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.body(x))


class SpectralTransform(nn.Module):
    """LaMa's Fourier unit: a 1x1 conv on the real and imaginary parts of the image's 2-D
    FFT, so that every output pixel sees the whole map (a global receptive field)."""

    def __init__(self, channels: int, norm_name: str, act: str) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.norm = norm(norm_name, 2 * channels)
        self.act = activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        with torch.autocast(x.device.type, enabled=False):  # FFTs want float32
            f = torch.fft.rfft2(x.float(), norm="ortho")  # (B, C, H, W/2+1) complex
            y = torch.cat([f.real, f.imag], dim=1)  # (B, 2C, H, W/2+1)
            y = self.act(self.norm(self.conv(y)))
            real, imag = y.chunk(2, dim=1)
            return torch.fft.irfft2(torch.complex(real, imag), s=(h, w), norm="ortho")


class FFCBlock(nn.Module):
    """Residual fast-Fourier-convolution block (after LaMa, simplified to one branch):
    a local 3x3 conv plus the global spectral transform, merged by a 1x1 conv."""

    def __init__(self, channels: int, conv: str, norm_name: str, act: str) -> None:
        super().__init__()
        self.local = conv_layer(conv, channels, channels)
        self.spectral = SpectralTransform(channels, norm_name, act)
        self.merge = nn.Sequential(norm(norm_name, channels), activation(act),
                                   nn.Conv2d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.merge(self.local(x) + self.spectral(x))


def bottleneck_blocks(kind: str, n: int, channels: int, conv: str, norm_name: str,
                      act: str) -> nn.Module:
    """``n`` residual blocks of ``kind`` (``unet.bottleneck``); dilations cycle 2, 4, 8."""
    if kind == "none":
        return nn.Identity()
    if kind == "dilated":
        return nn.Sequential(*[DilatedBlock(channels, 2 ** (i % 3 + 1), conv, norm_name, act)
                               for i in range(n)])
    return nn.Sequential(*[FFCBlock(channels, conv, norm_name, act) for _ in range(n)])

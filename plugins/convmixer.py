"""The ``convmixer`` fusion encoder: the paper's ConvMixer branch ("Patches are all you
need?", Trockman and Kolter), as in umar07/image-inpainting ``model/convmixer.py``.

Our own code because timm's ConvMixer is a classifier, not a feature extractor. The output
stays at H/patch; the paper's final AveragePooling2D(2) down to the 8x8 bottleneck is the
U-Net's generic resize step (average pooling for integer-larger maps), so the paper model
is reproduced exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

import zoo
from zoo.errors import ZooError
from zoo.hookspecs import EncoderSpec


@dataclass
class ConvMixerConfig:
    """ConvMixer hyperparameters; the defaults are the paper's ConvMixer-256/2."""

    width: int = 256  # the paper's filters=256, equal to the bottleneck width: plain add works
    depth: int = 2  # the paper's depth=2: two mixer blocks keep the branch cheap on 32x32
    kernel: int = 5  # the paper's kernel_size=5: a 5x5 depthwise conv mixes space widely
    patch: int = 2  # the paper's patch_size=2: 32x32 -> 16x16, pooled by 2 onto 8x8

    def __post_init__(self) -> None:
        for name in ("width", "depth", "kernel", "patch"):
            if int(getattr(self, name)) < (0 if name == "depth" else 1):
                raise ZooError(f"encoder_args.{name} must be >= {0 if name == 'depth' else 1}, "
                               f"got {getattr(self, name)}")


class Residual(nn.Module):
    """x + fn(x)."""

    def __init__(self, fn: nn.Module) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fn(x)


class ConvMixer(nn.Module):
    """(B, in_channels, H, W) -> (B, width, H/patch, W/patch)."""

    def __init__(self, config: ConvMixerConfig, in_channels: int) -> None:
        super().__init__()
        c = config
        self.patch = c.patch
        self.out_channels = c.width
        self.stem = nn.Sequential(  # patch embedding
            nn.Conv2d(in_channels, c.width, kernel_size=c.patch, stride=c.patch),
            nn.GELU(), nn.BatchNorm2d(c.width))
        self.blocks = nn.Sequential(*[
            nn.Sequential(
                Residual(nn.Sequential(  # depthwise: mixes space within each channel
                    nn.Conv2d(c.width, c.width, c.kernel, groups=c.width, padding="same"),
                    nn.GELU(), nn.BatchNorm2d(c.width))),
                nn.Conv2d(c.width, c.width, kernel_size=1),  # pointwise: mixes channels
                nn.GELU(), nn.BatchNorm2d(c.width))
            for _ in range(c.depth)])

    def output_size(self, h: int, w: int) -> tuple[int, int]:
        """(H/patch, W/patch); sizes that are not multiples of the patch are refused, since
        the strided stem would silently drop the last rows and columns."""
        p = self.patch
        if h % p or w % p or h < p or w < p:
            def near(n: int) -> str:
                lo, hi = (n // p) * p, -(-n // p) * p
                return " or ".join(str(v) for v in dict.fromkeys((lo, hi)) if v > 0)
            raise ZooError(f"convmixer with patch {p} needs sizes that are multiples of {p}, "
                           f"got {h}x{w} (height: {near(h)}; width: {near(w)})")
        return h // p, w // p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))  # (B, width, H/patch, W/patch)


def build(config: ConvMixerConfig, in_channels: int) -> ConvMixer:
    """A fresh ConvMixer for ``in_channels`` inputs."""
    return ConvMixer(config, in_channels)


@zoo.hookimpl
def zoo_register_encoders(register) -> None:
    register(EncoderSpec(name="convmixer", config=ConvMixerConfig, build=build,
                         description="the paper's ConvMixer branch (width 256, depth 2, k5, patch 2)"))

"""An example outside zoo plugin: ``myencoder``, a small stack of strided 3x3 convs.

The whole plugin is this file: a config dataclass, the ``nn.Module`` and the hook.
Install it (``pip install -e examples/zoo-myencoder``) and ``zoo plugins`` lists it;
``zoo train --encoder myencoder`` trains it fused into the U-Net's bottleneck.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

import zoo
from zoo.errors import ZooError
from zoo.hookspecs import EncoderSpec

__version__ = "0.1.0"


@dataclass
class MyEncoderConfig:
    """Hyperparameters; every field needs a default so the encoder builds with no args."""

    widths: tuple[int, ...] = (32, 64)  # one stride-2 conv per entry: 32x32 -> 8x8 by default
    activation: str = "relu"  # "relu" or "gelu"

    def __post_init__(self) -> None:
        # Errors a user can cause are ZooErrors that say what would work.
        self.widths = tuple(int(w) for w in self.widths)
        if not self.widths or any(w <= 0 for w in self.widths):
            raise ZooError(f"encoder_args.widths must be positive ints, got {list(self.widths)}")
        if self.activation not in ("relu", "gelu"):
            raise ZooError(f"encoder_args.activation must be relu or gelu, got {self.activation!r}")


class MyEncoder(nn.Module):
    """``(B, in_channels, H, W) -> (B, widths[-1], ceil(H / 2^n), ceil(W / 2^n))``."""

    def __init__(self, config: MyEncoderConfig, in_channels: int) -> None:
        super().__init__()
        act = nn.ReLU if config.activation == "relu" else nn.GELU
        layers: list[nn.Module] = []
        for width in config.widths:
            layers += [nn.Conv2d(in_channels, width, 3, stride=2, padding=1), act()]
            in_channels = width
        self.body = nn.Sequential(*layers)
        self.n_down = len(config.widths)
        self.out_channels = config.widths[-1]  # the U-Net sizes its fusion merge from this

    def output_size(self, h: int, w: int) -> tuple[int, int]:
        """Spatial size of the features for an ``h`` x ``w`` input."""
        smallest = 2**self.n_down
        if h < smallest or w < smallest:
            raise ZooError(f"myencoder with {self.n_down} stride-2 convs needs inputs of at "
                           f"least {smallest}x{smallest}, got {h}x{w}; use fewer widths")
        for _ in range(self.n_down):  # a 3x3, stride 2, pad 1 conv gives ceil(n / 2)
            h, w = (h + 1) // 2, (w + 1) // 2
        return h, w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)  # (B, out_channels, h2, w2)


@zoo.hookimpl
def zoo_register_encoders(register) -> None:
    """Offer ``myencoder`` to zoo."""
    register(EncoderSpec(
        name="myencoder",
        config=MyEncoderConfig,
        build=MyEncoder,  # build(config, in_channels) -> nn.Module
        description="example outside plugin: a stack of stride-2 3x3 convs",
    ))

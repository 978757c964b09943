"""The ``none`` fusion encoder: no fusion at all, i.e. the paper's vanilla U-Net.

Its ``out_channels`` is 0, which the U-Net reads as "nothing to merge"; it never looks
at the encoder's name.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

import zoo
from zoo.hookspecs import EncoderSpec


@dataclass
class NoneConfig:
    """No options: there is nothing to configure in the absence of an encoder."""


class NoEncoder(nn.Module):
    """Maps (B, C, H, W) to an empty (B, 0, H, W); takes any size."""

    out_channels: int = 0

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.in_channels = in_channels

    def output_size(self, h: int, w: int) -> tuple[int, int]:
        """Any size works; the (empty) output keeps it."""
        return h, w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(x.shape[0], 0, *x.shape[2:])  # (B, 0, H, W)


def build(config: NoneConfig, in_channels: int) -> NoEncoder:
    """A fresh NoEncoder."""
    return NoEncoder(in_channels)


@zoo.hookimpl
def zoo_register_encoders(register) -> None:
    register(EncoderSpec(name="none", config=NoneConfig, build=build,
                         description="no fused encoder: the paper's vanilla U-Net"))

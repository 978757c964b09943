"""zoo.model: the inpainting U-Net and how a TrainConfig becomes one."""

from __future__ import annotations

from torch import nn

from zoo.config import TrainConfig
from zoo.model.unet import InpaintUNet

__all__ = ["InpaintUNet", "build_model", "count_parameters"]


def build_model(config: TrainConfig) -> InpaintUNet:
    """A fresh U-Net with the fusion encoder ``config.encoder`` (built by its plugin)."""
    # late: the registry imports plugins, which import us
    from zoo.plugin.registry import build_encoder

    in_channels = 4 if config.unet.mask_channel else 3  # the encoder sees what the U-Net sees
    encoder = build_encoder(config.encoder, config.encoder_args, in_channels)
    return InpaintUNet(config.unet, encoder)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (BatchNorm's running statistics are buffers, not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)

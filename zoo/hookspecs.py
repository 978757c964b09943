"""The plugin API: three register-callback hooks, for fusion encoders, mask generators and
loss terms.

A plugin is a module with functions marked ``@zoo.hookimpl`` and advertised through the
``zoo.plugins`` entry-point group; the built-ins in ``plugins/`` use exactly that path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("zoo")
hookimpl = pluggy.HookimplMarker("zoo")


@dataclass(frozen=True)
class EncoderSpec:
    """A fusion encoder: a dataclass of hyperparameters and a builder.

    ``build(config, in_channels)`` returns an ``nn.Module`` that
      - has ``out_channels: int`` (0 means "no fusion", as the ``none`` encoder does),
      - has ``output_size(h, w) -> (h2, w2)``, raising ``ZooError`` for sizes it cannot take,
      - maps ``(B, in_channels, H, W)`` to ``(B, out_channels, h2, w2)``.
    The U-Net resizes that output to its bottleneck; it never asks the encoder's name.
    """

    name: str
    config: type  # a dataclass; every field has a default
    build: Callable[[Any, int], Any]
    description: str


@dataclass(frozen=True)
class MaskSpec:
    """A mask generator, vectorised on the device the model runs on.

    ``generate(config, n, h, w, generator, device)`` returns a float tensor
    ``(n, 1, h, w)`` of 0/1 where 1 marks the hole. ``generator`` is a
    ``torch.Generator`` on ``device`` (or None) so that masks can be frozen by seed.
    """

    name: str
    config: type
    generate: Callable[..., Any]
    description: str


@dataclass(frozen=True)
class LossSpec:
    """A loss term, combined with others by weight (``loss: "l1_hole:6+l1_known:1"``).

    ``build(config)`` returns an ``nn.Module`` whose ``forward(pred, target, mask)`` takes
    ``(B, 3, H, W)`` prediction and target in 0..1 and the ``(B, 1, H, W)`` mask (1 = hole)
    and returns a scalar tensor, differentiable in ``pred``. A term with parameters of its
    own (a discriminator) also defines ``update(pred, target, mask) -> Tensor``: the loss
    of its own parameters on a detached prediction, which the trainer minimises with an
    optimizer of its own before each generator step.
    """

    name: str
    config: type
    build: Callable[[Any], Any]
    description: str


class ZooHookSpecs:
    """Hook specifications. Each hook receives a ``register`` callback."""

    @hookspec
    def zoo_register_encoders(self, register: Callable[[EncoderSpec], None]) -> None:
        """Call ``register(EncoderSpec(...))`` once per fusion encoder this plugin offers."""

    @hookspec
    def zoo_register_masks(self, register: Callable[[MaskSpec], None]) -> None:
        """Call ``register(MaskSpec(...))`` once per mask generator this plugin offers."""

    @hookspec
    def zoo_register_losses(self, register: Callable[[LossSpec], None]) -> None:
        """Call ``register(LossSpec(...))`` once per loss term this plugin offers."""

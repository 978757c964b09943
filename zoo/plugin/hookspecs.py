"""The plugin API: three register-callback hooks, for fusion encoders, mask generators and
loss terms.

A plugin is a module with functions marked ``@zoo.hookimpl`` and advertised through the
``zoo.plugins`` entry-point group; the built-ins in ``plugins/`` use exactly that path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import pluggy

if TYPE_CHECKING:
    import torch

hookspec = pluggy.HookspecMarker("zoo")
hookimpl = pluggy.HookimplMarker("zoo")


@runtime_checkable
class FusionEncoder(Protocol):
    """What ``EncoderSpec.build`` returns (an ``nn.Module``); ``zoo.plugin.contract`` checks it.

    ``forward`` must return exactly what the two declarations say: the U-Net sizes its
    fusion from ``out_channels`` and checks input sizes with ``output_size``, then resizes
    whatever ``forward`` returns onto its bottleneck."""

    out_channels: int  # channels forward returns; 0 means "no fusion"

    def output_size(self, h: int, w: int) -> tuple[int, int]:
        """(h2, w2) of forward's output for an h x w input; ZooError for sizes it refuses."""
        ...

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, H, W) -> (B, out_channels, h2, w2)."""
        ...


class MaskGenerator(Protocol):
    """``MaskSpec.generate``: float 0/1 masks ``(n, 1, h, w)``, 1 = hole. Draw every random
    number from ``generator`` (None: torch's global one) so a seed freezes the masks."""

    def __call__(self, config: Any, n: int, h: int, w: int,
                 generator: torch.Generator | None,
                 device: torch.device | str) -> torch.Tensor: ...


@runtime_checkable
class LossTerm(Protocol):
    """What ``LossSpec.build`` returns (an ``nn.Module``): ``(pred, target, mask)`` with
    pred/target ``(B, 3, H, W)`` in 0..1 and mask ``(B, 1, H, W)`` (1 = hole) -> a finite
    scalar, differentiable in ``pred``. A term with parameters of its own also has
    ``update(pred, target, mask)`` (see ``LossSpec``)."""

    def __call__(self, pred: torch.Tensor, target: torch.Tensor,
                 mask: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class EncoderSpec:
    """A fusion encoder: a dataclass of hyperparameters and a builder.

    ``build(config, in_channels)`` returns an ``nn.Module`` that
      - has ``out_channels: int`` (0 means "no fusion", as the ``none`` encoder does),
      - has ``output_size(h, w) -> (h2, w2)``, raising ``ZooError`` for sizes it cannot take,
      - maps ``(B, in_channels, H, W)`` to ``(B, out_channels, h2, w2)``, exactly as
        declared (``zoo.plugin.contract.check_encoder_output`` holds it to that).
    The U-Net resizes whatever ``forward`` returns to its bottleneck; it never asks the
    encoder's name. ``test_args``: small settings for the contract tests (``zoo.plugin.testing``)
    of a big default model; users never get them. ``reload_args``: how the encoder's
    options (a dict) change when a saved model is rebuilt, whose weights then replace any
    initial ones (e.g. don't download pretrained weights again); None: unchanged.
    """

    name: str
    config: type  # a dataclass; every field has a default, and the defaults are valid
    build: Callable[[Any, int], FusionEncoder]
    description: str
    test_args: dict[str, Any] = field(default_factory=dict)
    reload_args: Callable[[dict[str, Any]], dict[str, Any]] | None = None


@dataclass(frozen=True)
class MaskSpec:
    """A mask generator, vectorised on the device the model runs on.

    ``generate(config, n, h, w, generator, device)`` returns a float tensor
    ``(n, 1, h, w)`` of 0/1 where 1 marks the hole, every mask with a hole and some
    context. ``generator`` is a ``torch.Generator`` on ``device``, or None (then torch's
    global generator); the same seed must give the same masks, so eval masks are frozen.
    """

    name: str
    config: type
    generate: MaskGenerator
    description: str
    test_args: dict[str, Any] = field(default_factory=dict)


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
    build: Callable[[Any], LossTerm]
    description: str
    test_args: dict[str, Any] = field(default_factory=dict)


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

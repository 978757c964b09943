"""The plugin kinds, in one table: what varies between encoders, mask generators and loss
terms. The registry, the contract, the settings, ``zoo plugins`` and the test kit read it
instead of writing each kind out; a new kind is one more row (and its hook and check).

This module stays light (no torch): the settings read it before any model is built. The
contract's checks, which need torch, are imported when one runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from zoo.errors import ZooError
from zoo.plugin.hookspecs import EncoderSpec, LossSpec, MaskSpec


@dataclass(frozen=True)
class Kind:
    """One kind of plugin item."""

    name: str  # "encoder": what messages call it, and the TrainConfig field that picks one
    plural: str  # "encoders": the Registry table and the `zoo plugins --json` key
    title: str  # the heading of its `zoo plugins` table
    spec: type  # what its hook registers
    hook: str  # the hookspec its plugins implement
    options: str  # the TrainConfig key of its options ("encoder_args")
    check_name: str  # the zoo.plugin.contract function that holds a plugin to the contract
    # loss options are keyed by term name ("loss_args.l1_hole"), since a loss mixes terms
    per_term: bool = False
    sizes: str | None = None  # the PluginContract attribute with the sizes its check takes

    @property
    def check(self) -> Callable[..., None]:
        """The contract check, ``check(name, args, *, registry, **options)``."""
        from zoo.plugin import contract  # lazy: the checks load torch

        return getattr(contract, self.check_name)

    def prefix(self, name: str) -> str:
        """How errors name the options of item ``name`` (``encoder_args``,
        ``loss_args.l1_hole``)."""
        return f"{self.options}.{name}" if self.per_term else self.options


KINDS: tuple[Kind, ...] = (
    Kind("encoder", "encoders", "Fusion encoders", EncoderSpec, "zoo_register_encoders",
         "encoder_args", "check_encoder", sizes="encoder_sizes"),
    Kind("mask", "masks", "Mask generators", MaskSpec, "zoo_register_masks", "mask_args",
         "check_mask", sizes="mask_sizes"),
    Kind("loss", "losses", "Loss terms", LossSpec, "zoo_register_losses", "loss_args",
         "check_loss", per_term=True),
)
KIND: dict[str, Kind] = {k.name: k for k in KINDS}


def kind_of(name: str) -> Kind:
    """The row of kind ``name``; a ZooError naming the kinds otherwise."""
    if name not in KIND:
        raise ZooError(f"unknown plugin kind '{name}'; valid: {', '.join(KIND)}")
    return KIND[name]


def check(kind: str, name: str, args: dict[str, Any] | None = None, *,
          registry: Any, **options: Any) -> None:
    """Run the contract of ``kind`` (encoder, mask or loss) on ``name`` of ``registry`` (a
    ``zoo.plugin.registry.Registry``)."""
    kind_of(kind).check(name, args, registry=registry, **options)

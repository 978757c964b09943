"""The plugin API, at the path plugins import it from: a re-export of ``zoo.plugin.hookspecs``
(kept so that ``from zoo.hookspecs import EncoderSpec, hookimpl`` keeps working)."""

from zoo.plugin.hookspecs import (EncoderSpec, FusionEncoder, LossSpec, LossTerm,
                                  MaskGenerator, MaskSpec, ZooHookSpecs, hookimpl, hookspec)

__all__ = ["EncoderSpec", "FusionEncoder", "LossSpec", "LossTerm", "MaskGenerator",
           "MaskSpec", "ZooHookSpecs", "hookimpl", "hookspec"]

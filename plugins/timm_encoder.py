"""The ``timm`` fusion encoder: any timm backbone, by name, as the fused encoder.

One feature level of ``timm.create_model(..., features_only=True)`` is merged into the
U-Net's bottleneck. The default, the deepest level of ResNet-18, is the global-features
fusion of the colourisation work the paper follows (its 1x1 map at 32x32 inputs is
broadcast onto the bottleneck by the U-Net's resize step).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

import zoo
from zoo.errors import ZooError, did_you_mean
from zoo.hookspecs import EncoderSpec

_WEIGHT_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors")


@dataclass
class TimmConfig:
    """Which timm backbone, which of its feature levels, and where its weights come from."""

    model: str = "resnet18"  # small and fast, and the backbone the colourisation fusion used
    pretrained: bool = False  # random init: no download needed; True fetches from timm's hub
    weights: str | None = None  # a local state dict (.pth/.pt/.safetensors), for offline use
    out_index: int = -1  # feature level; -1 = deepest, i.e. the most global features

    def __post_init__(self) -> None:
        if self.weights:  # absolute now: Ray trials run in another working directory
            self.weights = str(Path(self.weights).expanduser().resolve())


def _check_model_name(name: str) -> None:
    import timm

    if not timm.is_model(name):
        hint = did_you_mean(name, timm.list_models())
        raise ZooError(f"unknown timm model '{name}';{hint} list them with "
                       f"python -c \"import timm; print(timm.list_models('resnet*'))\"")


def _read_state_dict(path: str) -> dict[str, torch.Tensor]:
    p = Path(path).expanduser()
    if not p.is_file():
        raise ZooError(f"encoder_args.weights: no such file '{path}'")
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: Any = load_file(str(p))
        else:
            state = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, pickled objects, wrong format
        raise ZooError(f"encoder_args.weights: cannot read '{path}' as a state dict "
                       f"({', '.join(_WEIGHT_SUFFIXES)}): {type(exc).__name__}: {exc}") from None
    for key in ("state_dict", "model", "state_dict_ema"):  # common checkpoint wrappers
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ZooError(f"encoder_args.weights: '{path}' does not hold a state dict of tensors")
    return state


def _mismatch(module: nn.Module, state: dict[str, torch.Tensor]) -> str:
    """'' when ``state`` matches ``module`` key for key and shape for shape, else why not."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    shapes = [f"{k} {list(state[k].shape)} vs {list(v.shape)}" for k, v in own.items()
              if k in state and state[k].shape != v.shape]
    parts = []
    if missing:
        parts.append(f"missing {len(missing)} keys (e.g. {', '.join(missing[:3])})")
    if extra:
        parts.append(f"{len(extra)} unexpected keys (e.g. {', '.join(extra[:3])})")
    if shapes:
        parts.append(f"shape mismatches (file vs model): {'; '.join(shapes[:3])}")
    return "; ".join(parts)


def _load_weights(features: nn.Module, config: TimmConfig, in_channels: int) -> None:
    """Load a local file strictly: it must be a state dict of exactly this feature
    extractor, or of the whole timm model (classifier included) it comes from."""
    import timm

    state = _read_state_dict(config.weights)
    why = _mismatch(features, state)
    if not why:
        features.load_state_dict(state, strict=True)
        return
    full = timm.create_model(config.model, pretrained=False, in_chans=in_channels)
    why_full = _mismatch(full, state)
    if why_full:
        hint = (" (the mask channel makes the input 4 channels: unet.mask_channel=false, "
                "or save weights made with in_chans=4)" if in_channels == 4 and "shape" in why_full
                else "")
        raise ZooError(f"encoder_args.weights: '{config.weights}' does not match timm model "
                       f"'{config.model}' with in_chans={in_channels}: {why_full}{hint}")
    full.load_state_dict(state, strict=True)
    # the feature extractor's keys are the full model's, minus the head and unused stages
    features.load_state_dict({k: state[k] for k in features.state_dict()}, strict=True)


class TimmEncoder(nn.Module):
    """(B, in_channels, H, W) -> (B, channels of level out_index, h2, w2)."""

    def __init__(self, config: TimmConfig, in_channels: int) -> None:
        super().__init__()
        import timm

        _check_model_name(config.model)
        self.model_name = config.model
        try:
            self.body = timm.create_model(config.model, features_only=True,
                                          out_indices=(config.out_index,),
                                          pretrained=config.pretrained, in_chans=in_channels)
        except (IndexError, AssertionError) as exc:  # CNNs raise IndexError, ViTs assert
            if "range" not in str(exc) and not isinstance(exc, IndexError):
                raise ZooError(f"timm could not build '{config.model}' with features_only=True: "
                               f"{exc}") from None
            levels = len(timm.create_model(config.model, features_only=True,
                                           pretrained=False).feature_info)
            raise ZooError(f"encoder_args.out_index {config.out_index} is out of range for "
                           f"'{config.model}', which has {levels} feature levels: use "
                           f"{-levels}..{levels - 1} (-1 = deepest)") from None
        except Exception as exc:
            if config.pretrained:
                raise ZooError(f"could not get pretrained weights for '{config.model}' "
                               f"({type(exc).__name__}: {exc}); without internet set "
                               f"encoder_args.pretrained=false, or encoder_args.weights to "
                               f"a local file") from None
            # not every timm model can be a feature extractor
            raise ZooError(f"timm model '{config.model}' cannot be built with "
                           f"features_only=True, so it cannot be a fusion encoder "
                           f"({type(exc).__name__}: {exc}); pick a backbone such as "
                           f"resnet18") from None
        if config.weights:
            _load_weights(self.body, config, in_channels)
        self.in_channels = in_channels
        self.out_channels = int(self.body.feature_info.channels()[-1])
        self.reduction = int(self.body.feature_info.reduction()[-1])
        self._sizes: dict[tuple[int, int], tuple[int, int]] = {}

    def output_size(self, h: int, w: int) -> tuple[int, int]:
        """The feature map's size for an h x w input, found by running the backbone once per
        size (models round differently, and some only take fixed sizes)."""
        if (h, w) not in self._sizes:
            try:
                param = next(self.body.parameters())
                probe = torch.zeros(1, self.in_channels, h, w, device=param.device, dtype=param.dtype)
            except StopIteration:
                probe = torch.zeros(1, self.in_channels, h, w)
            modes = [m.training for m in self.modules()]
            self.eval()  # no BatchNorm statistics may change by asking
            try:
                with torch.no_grad():
                    out = self.body(probe)[0]
            except Exception as exc:
                raise ZooError(f"timm model '{self.model_name}' cannot take a {h}x{w} input "
                               f"(its features are 1/{self.reduction} of the input): "
                               f"{type(exc).__name__}: {exc}") from None
            finally:
                for m, mode in zip(self.modules(), modes):
                    m.training = mode
            self._sizes[(h, w)] = (int(out.shape[-2]), int(out.shape[-1]))
        return self._sizes[(h, w)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)[0]  # (B, out_channels, ~H/reduction, ~W/reduction)


def build(config: TimmConfig, in_channels: int) -> TimmEncoder:
    """A fresh timm feature extractor for ``in_channels`` inputs."""
    return TimmEncoder(config, in_channels)


def reload_args(args: dict) -> dict:
    """A saved model brings its own weights: neither download nor read initial ones."""
    return {**args, **{k: v for k, v in (("pretrained", False), ("weights", None))
                       if k in args}}


@zoo.hookimpl
def zoo_register_encoders(register) -> None:
    register(EncoderSpec(name="timm", config=TimmConfig, build=build,
                         description="any timm backbone's feature level (default resnet18, deepest)",
                         reload_args=reload_args))

"""Whether a model folder fits this installation: the plugins it needs (named in
``zoo.json`` at save time; installed and allowed at load time) and weights that match the
model its config builds, checked before the model is allocated."""

from __future__ import annotations

import os
from typing import Any

import torch

from zoo.config import TrainConfig
from zoo.errors import ZooError

CONFIG_NAME = "config.json"
META_NAME = "zoo.json"


def plugin_requirements(config: TrainConfig) -> dict[str, dict[str, str]]:
    """The plugins a model needs: its encoder's and its mask kind's package and version."""
    from zoo.plugin.registry import get_registry

    reg = get_registry()
    out = {}
    for role, name, table in (("encoder", config.encoder, reg.encoders),
                              ("mask", config.mask, reg.masks)):
        entry = table.get(name)
        out[role] = ({"name": name, "plugin": entry.plugin, "package": entry.package,
                      "version": entry.version} if entry is not None else {"name": name})
    return out


def check_plugins(config: TrainConfig, requires: dict[str, Any], where: Any) -> None:
    """A ZooError naming the package to install when the model's encoder is not registered
    (missing, broken, or left out by ZOO_PLUGINS)."""
    from zoo.plugin.registry import ENV_ALLOW, get_registry, install_advice

    reg = get_registry()
    req = requires.get("encoder") if isinstance(requires.get("encoder"), dict) else {}
    if req.get("name") not in (None, config.encoder):
        raise ZooError(f"model {where}: {CONFIG_NAME} names the encoder '{config.encoder}' but "
                       f"{META_NAME} was written for '{req['name']}' (files of two models "
                       "mixed?); copy the folder again")
    if config.encoder in reg.encoders:  # served, but by the package the model names?
        reg.check_source("encoder", config.encoder, req, where)
        return
    package, version, plugin = req.get("package"), req.get("version"), req.get("plugin")
    allowed = os.environ.get(ENV_ALLOW, "").strip()
    if allowed and plugin and plugin not in {a.strip() for a in allowed.split(",")}:
        raise ZooError(f"model {where} needs the encoder '{config.encoder}' of plugin "
                       f"'{plugin}', which {ENV_ALLOW}={allowed} leaves out; add '{plugin}' "
                       f"to {ENV_ALLOW} or unset it")
    broken = [b for b in reg.broken if b.plugin == plugin or (package and b.package == package)]
    if broken:
        raise ZooError(f"model {where} needs the encoder '{config.encoder}' of plugin "
                       f"'{broken[0].plugin}', which failed to load ({broken[0].error}); "
                       "see `zoo plugins`")
    source, how = install_advice(package, version)
    raise ZooError(f"model {where} needs the fusion encoder '{config.encoder}'{source}, which "
                   f"is not installed; {how}")


def _expected_tensors(config: TrainConfig) -> dict[str, torch.Tensor] | None:
    """The state dict ``config`` builds, on the meta device (no memory); None when the
    encoder cannot be built there (it then goes unchecked until load_state_dict)."""
    from zoo.model import build_model

    try:
        with torch.device("meta"):
            return dict(build_model(config).state_dict())
    except ZooError:
        raise
    except Exception:  # a plugin that needs real tensors to build: checked later
        return None


def check_weights(config: TrainConfig, weights: dict[str, torch.Tensor], where: str) -> None:
    """Refuse weights that do not fit the model ``config`` builds, before it is allocated: a
    missing, unexpected or differently shaped key (named, with both shapes), or a tensor of
    a kind the model does not hold (int8 or bool weights where it has floats)."""
    expected = _expected_tensors(config)
    if expected is None:
        return
    missing = [k for k in expected if k not in weights]
    extra = [k for k in weights if k not in expected]
    if missing or extra:
        part = [f"missing {', '.join(missing[:3])}" if missing else "",
                f"unexpected {', '.join(extra[:3])}" if extra else ""]
        raise ZooError(f"{where}: {'; '.join(p for p in part if p)}")
    for key, want in expected.items():
        got = weights[key]
        if tuple(got.shape) != tuple(want.shape):
            raise ZooError(f"{where}: {key} has shape {list(got.shape)} in the weights, the "
                           f"config builds {list(want.shape)}")
        if (got.dtype == torch.bool) != (want.dtype == torch.bool) or \
                got.dtype.is_floating_point != want.dtype.is_floating_point:
            raise ZooError(f"{where}: {key} is {str(got.dtype).removeprefix('torch.')} in the "
                           f"weights, the model holds {str(want.dtype).removeprefix('torch.')}; "
                           "zoo does not cast weights silently")

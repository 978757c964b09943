"""Flags shared by several commands, and the one place they become a TrainConfig."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from zoo.config import TrainConfig, nest, preset
from zoo.errors import ZooError


def add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", metavar="DIR",
                   help="folder with CIFAR-10 (npz shards or torchvision layout); "
                        "default $ZOO_DATA_DIR, else download")
    p.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--test-limit", type=int, default=None, metavar="N",
                   help="score only the first N test images")
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")


def add_lookup_args(p: argparse.ArgumentParser) -> None:
    """Where trial ids are looked up, for every command that takes a model."""
    p.add_argument("--storage", metavar="DIR", help="leaderboard for trial ids "
                                                    "(DIR/leaderboard.sqlite; default ./results)")
    p.add_argument("--db", metavar="PATH", help="leaderboard file for trial ids")


def parse_sets(pairs: list[str]) -> dict[str, Any]:
    """``["unet.depth=3", "encoder_args.width=128"]`` -> flat dict with YAML-typed values."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ZooError(f"--set expects KEY=VALUE (e.g. unet.depth=3), got '{pair}'")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ZooError(f"--set {pair}: the value is not valid YAML; quote strings and "
                           "write lists as [8,16,32]") from None
    return out


def load_yaml_config(path: str) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise ZooError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ZooError(f"config file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ZooError(f"config file {path} must hold a mapping of options")
    return data


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``extra`` (nested or dotted keys) into ``base``."""
    out = dict(base)
    for key, value in nest(extra).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def resolve_data_dir(value: str | None) -> str | None:
    """An absolute path for a folder given by --data or a config (Ray trials change the
    working dir). Without one, the loader falls back to $ZOO_DATA_DIR for CIFAR-10 only,
    so the variable never overrides a folder dataset or a checkpoint's own folder."""
    if not value:
        return None
    path = Path(value).expanduser().resolve()
    if not path.is_dir():
        raise ZooError(f"data folder {value} does not exist; pass --data DIR or set "
                       "ZOO_DATA_DIR to a folder with CIFAR-10 (npz shards or "
                       "cifar-10-batches-py/)")
    return str(path)


def config_from_args(args: argparse.Namespace, flags: dict[str, Any]) -> TrainConfig:
    """preset < --config YAML < named flags < --set, validated in one place."""
    data: dict[str, Any] = preset(args.preset) if getattr(args, "preset", None) else {}
    if getattr(args, "config", None):
        data = merge(data, load_yaml_config(args.config))
    data = merge(data, {k: v for k, v in flags.items() if v is not None})
    data = merge(data, parse_sets(getattr(args, "set", None) or []))
    data_dir = resolve_data_dir(data.get("data_dir"))
    if data_dir:
        data["data_dir"] = data_dir
    elif data.get("dataset", "cifar10") == "cifar10":
        # remember $ZOO_DATA_DIR in the run's config (and so its checkpoint), so later
        # commands on the run need no environment variable
        data_dir = env_data_dir()
        if data_dir:
            data["data_dir"] = data_dir
    return TrainConfig.from_dict(data)


def env_data_dir() -> str | None:
    """``$ZOO_DATA_DIR`` as an absolute folder, or None when unset."""
    import os

    from zoo.data import ENV_DATA_DIR

    value = os.environ.get(ENV_DATA_DIR)
    if not value:
        return None
    path = Path(value).expanduser().resolve()
    if not path.is_dir():
        raise ZooError(f"${ENV_DATA_DIR}={value} is not a folder; point it (or --data DIR) at "
                       "CIFAR-10 (npz shards or cifar-10-batches-py/)")
    return str(path)

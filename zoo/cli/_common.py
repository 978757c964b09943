"""Flags shared by several commands, and the one place they become a TrainConfig."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from zoo.config import TrainConfig, preset
from zoo.settings import build_config
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


def config_from_args(args: argparse.Namespace, flags: dict[str, Any]) -> TrainConfig:
    """preset < --config YAML < named flags < --set, through :func:`zoo.settings.build_config`."""
    layers = [preset(args.preset) if getattr(args, "preset", None) else None,
              load_yaml_config(args.config) if getattr(args, "config", None) else None,
              {k: v for k, v in flags.items() if v is not None},
              parse_sets(getattr(args, "set", None) or [])]
    # Names and options are checked first (a misspelt encoder is reported before the data
    # is looked for); where the data lies then decides one more layer.
    core = build_config(*layers)
    # absolute: Ray trials change the working dir. $ZOO_DATA_DIR is for CIFAR-10 only (it
    # never overrides a folder dataset); remembered in the run's config (and so its
    # checkpoint), later commands on the run need no environment variable
    from zoo.data import data_folder

    data_dir = data_folder(core.data_dir, env=core.dataset == "cifar10")
    return build_config(*layers, {"data_dir": data_dir} if data_dir else None)

"""Masks by name: training masks on the model's device, and the frozen evaluation set.

Generators are plugins (``zoo_register_masks``); the built-ins live in ``plugins/masks.py``.
What a generator must return is checked by ``zoo.plugin.contract`` (here: the cheap part, on
every batch).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from zoo.errors import ZooError

EVAL_SEED = 2024  # the frozen evaluation masks; every model is scored on the same holes


def eval_id(dataset: str, mask: str, mask_args: Mapping[str, Any] | None, n: int,
            image_size: int) -> str:
    """Names the frozen test-mask set (``cifar10/paper/n10000/s2024``), so leaderboard rows
    compare like with like: the dataset (with its image size unless CIFAR-10's 32 px), the
    mask kind and its options, the number of test images and :data:`EVAL_SEED`."""
    args = ",".join(f"{k}={v}" for k, v in sorted((mask_args or {}).items()))
    size = "" if dataset == "cifar10" else f"/{image_size}px"
    return f"{dataset}{size}/{mask}{'(' + args + ')' if args else ''}/n{n}/s{EVAL_SEED}"


def make_masks(name: str, args: dict[str, Any] | None, n: int, h: int, w: int, *,
               generator: torch.Generator | None = None,
               device: torch.device | str = "cpu") -> Tensor:
    """``n`` masks ``(n, 1, h, w)`` (float 0/1, 1 = hole) from the generator registered as
    ``name`` with options ``args``; ``generator`` must live on ``device`` (or be None)."""
    from zoo.plugin.contract import check_mask_output, origin
    # lazy: discovery imports every plugin
    from zoo.plugin.registry import get_registry, mask_config

    item = get_registry().mask(name)
    spec = item.spec
    config = mask_config(name, args)
    if generator is not None and torch.device(generator.device).type != torch.device(device).type:
        raise ZooError(f"mask generator lives on {generator.device} but masks were asked for "
                       f"on {device}; pass a generator made on the same device")
    masks = spec.generate(config, n, h, w, generator, device)
    check_mask_output(masks, n, h, w, origin("mask", name, item),
                      f"generate(config, {n}, {h}, {w}, generator, {str(device)!r})")
    return masks.float()


def frozen_masks(name: str, args: dict[str, Any] | None, n: int, h: int, w: int, *,
                 seed: int = EVAL_SEED, device: torch.device | str = "cpu") -> Tensor:
    """The evaluation masks: drawn on the CPU from ``seed`` and then moved to ``device``, so
    every model on every device is scored on exactly the same holes."""
    generator = torch.Generator(device="cpu").manual_seed(seed)
    return make_masks(name, args, n, h, w, generator=generator, device="cpu").to(device)

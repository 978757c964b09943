"""A training loss made of weighted terms, each a registered plugin (``zoo_register_losses``).

``build_loss(config)`` reads ``config.loss`` ("l1_hole:6+l1_known:1+ssim:0.2") and
``config.loss_args`` ({"adv": {"lr": 2e-4}}) and returns a ``WeightedLoss``; terms with
parameters of their own (a discriminator) are listed by ``trainable_terms()`` so the
trainer can give each its own optimizer.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from zoo.config import parse_loss
from zoo.errors import ZooError


class WeightedLoss(nn.Module):
    """``forward(pred, target, mask) -> (total, {term: value})``; values are detached."""

    def __init__(self, terms: dict[str, nn.Module], weights: dict[str, float]) -> None:
        super().__init__()
        self.terms = nn.ModuleDict(terms)
        self.weights = dict(weights)

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        parts = {name: term(pred, target, mask) for name, term in self.terms.items()}
        total = sum(self.weights[name] * value for name, value in parts.items())
        return total, {name: value.detach() for name, value in parts.items()}

    def trainable_terms(self) -> dict[str, nn.Module]:
        """Terms that train parameters of their own through an ``update`` method."""
        return {name: term for name, term in self.terms.items()
                if hasattr(term, "update") and any(p.requires_grad for p in term.parameters())}


def loss_configs(config: Any) -> dict[str, Any]:
    """Each term of ``config.loss`` (a TrainConfig) with its own validated config, in order;
    unknown terms, options for terms the loss does not use, and bad options name the fix."""
    from zoo.plugin.registry import loss_config

    names = [name for name, _ in parse_loss(config.loss)]
    extra = sorted(set(config.loss_args) - set(names))
    if extra:
        raise ZooError(f"loss_args has options for {', '.join(extra)}, which the loss "
                       f"'{config.loss}' does not use; add the term to loss or drop the options")
    out = {}
    for name in names:
        args = config.loss_args.get(name) or {}
        if not isinstance(args, dict):
            raise ZooError(f"loss_args.{name} must be a mapping of options, got {args!r}")
        out[name] = loss_config(name, args)
    return out


def build_loss(config: Any) -> WeightedLoss:
    """The weighted loss of ``config`` (a TrainConfig); unknown terms or options name the
    valid ones."""
    from zoo.plugin.registry import get_registry

    terms = {}
    for name, term_config in loss_configs(config).items():
        module = get_registry().loss(name).spec.build(term_config)
        if not isinstance(module, nn.Module):
            raise ZooError(f"loss term '{name}' built a {type(module).__name__}, not an "
                           "nn.Module; the plugin is broken")
        terms[name] = module
    return WeightedLoss(terms, dict(parse_loss(config.loss)))


def term_optimizers(loss: WeightedLoss) -> dict[str, torch.optim.Optimizer]:
    """One Adam per trainable term (betas 0.5/0.999, as GAN discriminators use)."""
    return {name: torch.optim.Adam(term.parameters(), lr=float(getattr(term, "lr", 1e-4)),
                                   betas=(0.5, 0.999))
            for name, term in loss.trainable_terms().items()}

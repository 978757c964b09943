"""Scoring a model on the frozen test masks, beside the references on the same holes.

Evaluation serves the trainer (each epoch's validation, the final test), ``zoo eval``,
``zoo compare`` and the evidence behind model cards; it imports nothing of the trainer.
"""

from __future__ import annotations

from typing import Any

import torch

from zoo.config import TrainConfig
from zoo.device import autocast
from zoo.errors import TrainingDiverged
from zoo.masks import EVAL_SEED, eval_id  # the frozen test-mask set every model is scored on


class NonFiniteOutput(TrainingDiverged):
    """The model predicted NaN or infinity: a broken model, which must never be scored."""


@torch.no_grad()
def score_model(model: torch.nn.Module, images: torch.Tensor, masks: torch.Tensor, *,
                batch_size: int = 500, amp: bool = False,
                channels_last: bool = False) -> Any:
    """Score ``model`` on uint8 ``images`` (N,3,H,W) with fixed ``masks`` (N,1,H,W); returns
    the ``MetricAccumulator`` (means by ``compute()``, per-image scores by
    ``image_scores()``). A prediction with NaN or inf raises ``NonFiniteOutput``."""
    from zoo.metrics import MetricAccumulator

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    acc = MetricAccumulator()
    broken = 0
    for i in range(0, len(images), batch_size):
        x = images[i:i + batch_size].to(device, non_blocking=True).float().div_(255)
        m = masks[i:i + batch_size].to(device, non_blocking=True)
        masked = x * (1 - m)
        if channels_last and device.type in ("cuda", "cpu"):
            masked = masked.contiguous(memory_format=torch.channels_last)
        with autocast(device, amp):
            out = model(masked, m)
        broken += int((~torch.isfinite(out).flatten(1).all(1)).sum())
        acc.update(x, out.float().clamp_(0, 1), m)
    model.train(was_training)
    if broken:
        raise NonFiniteOutput(f"the model predicted NaN or inf on {broken} of {len(images)} "
                              "images: its weights are broken (did training diverge? lower "
                              "the learning rate), so it is not scored")
    return acc


def evaluate_model(model: torch.nn.Module, images: torch.Tensor, masks: torch.Tensor, *,
                   batch_size: int = 500, amp: bool = False,
                   channels_last: bool = False) -> dict[str, float]:
    """The means of :func:`score_model`."""
    return score_model(model, images, masks, batch_size=batch_size, amp=amp,
                       channels_last=channels_last).compute()


def evaluate_checkpoint_model(model: torch.nn.Module | None, config: TrainConfig,
                              test: torch.Tensor, *, masks: torch.Tensor | None = None,
                              baselines: tuple[str, ...] = ("mean_fill", "telea"),
                              image_scores: dict[str, Any] | None = None,
                              train_data: torch.Tensor | None = None) -> dict[str, Any]:
    """Test metrics on the frozen mask set, plus the ceiling and classical baselines on the
    same masks, so every number comes with its reference points. ``model=None`` scores
    only the references. A dict given as ``image_scores`` receives the per-image scores
    (a ``zoo.scores.ImageScores`` under ``"scores"``): the model's as ``"model"``. A model's
    result also carries its cost (``zoo.cost``) and provenance (``zoo.provenance``;
    ``train_data`` is fingerprinted there)."""
    from zoo.baselines import evaluate_baselines
    from zoo.masks import frozen_masks
    from zoo.scores import MODEL, from_accumulators, masks_fingerprint

    n, _, h, w = test.shape
    if masks is None:
        masks = frozen_masks(config.mask, config.mask_args, n, h, w, seed=EVAL_SEED)
    per_image: dict[str, Any] = {}
    metrics = {}
    if model is not None:
        acc = score_model(model, test, masks, batch_size=config.eval_batch_size)
        metrics, per_image[MODEL] = acc.compute(), acc.image_scores()
    refs = evaluate_baselines(test, masks, names=tuple(dict.fromkeys((*baselines, "ceiling"))),
                              image_scores=per_image)
    eval_set = eval_id(config.dataset, config.mask, config.mask_args, n, config.image_size)
    result = {**metrics, "baselines": refs, "eval_id": eval_set}
    kept = from_accumulators(result["eval_id"], per_image, masks_fingerprint(masks))
    if model is not None:
        result.update(_cost_and_provenance(model, config, (h, w), kept.masks_sha256,
                                           result["eval_id"], train_data))
    if image_scores is not None:
        image_scores["scores"] = kept
    return result


def _cost_and_provenance(model: torch.nn.Module, config: TrainConfig, size: tuple[int, int],
                         masks_sha256: str, eval_set: str, train_data: torch.Tensor | None
                         ) -> dict[str, Any]:
    from zoo.modelfolder.checkpoint import plugin_requirements
    from zoo.cost import model_cost
    from zoo.provenance import provenance

    device = str(next(model.parameters()).device)
    return {**model_cost(model, size),
            "provenance": provenance(train_data=train_data, eval_id=eval_set,
                                     masks_sha256=masks_sha256, device=device,
                                     plugins=plugin_requirements(config))}

"""Per-image scores of anything zoo can name, on one eval set: what ``zoo compare --stats``
and the leaderboard's intervals resample.

A side of a comparison is a model reference (folder, trial id, Hub id), ``baseline:NAME``,
or a comma-separated list of models taken as the seeds of one config. Stored scores are
used when they are of the eval set asked for (``scores.safetensors`` in the model folder);
otherwise the side is scored now, on the same frozen holes every model gets.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import ZooError, unknown
from zoo.metrics import BINNED, TABLE
from zoo.scores import MODEL, ImageScores

BASELINE_PREFIX = "baseline:"


@dataclass
class Side:
    """One side of a comparison: per-seed scores on one eval set."""

    label: str
    eval_id: str
    seeds: list[ImageScores]  # one per seed (model), each holding the scorer below
    scorer: str  # "model", or the baseline's name
    seed_values: list[int | None] | None = None  # each model's training seed (None: unknown)

    def matrix(self, metric: str) -> np.ndarray:
        """``(n_seeds, n_images)`` of ``metric``."""
        return np.stack([s.get(self.scorer, metric) for s in self.seeds])

    @property
    def bins(self) -> np.ndarray:
        return self.seeds[0].bins


def _data_config(config: Any, data: str | None, overrides: dict[str, Any]) -> Any:
    from zoo.data import data_folder
    from zoo.settings import build_config

    moved = data or not (config.data_dir and Path(config.data_dir).is_dir())
    return build_config(config, {"data_dir": data_folder(data)} if moved else None,
                        {k: v for k, v in overrides.items() if v is not None}, plugins=False)


def _score_now(model: Any, config: Any, baseline: str | None) -> ImageScores:
    from zoo.data import load_dataset
    from zoo.evaluate import evaluate_checkpoint_model

    kept: dict[str, Any] = {}
    evaluate_checkpoint_model(model, config, load_dataset(config).test,
                              baselines=(baseline,) if baseline else (), image_scores=kept)
    return kept["scores"]


def model_side_scores(ref: str, *, storage: Any = None, db: Any = None, data: str | None = None,
                      device: str = "cpu", overrides: dict[str, Any] | None = None
                      ) -> tuple[str, ImageScores, Any]:
    """``(label, scores, config)`` of one model: stored when of the eval set asked for."""
    from zoo.modelfolder.checkpoint import load_model
    from zoo.modelfolder.refs import label, resolve_model
    from zoo.scores import read_scores
    from zoo.masks import eval_id

    folder = resolve_model(ref, storage=storage, db=db)
    model, saved, _ = load_model(folder, device=device)
    if not all(bool(p.isfinite().all()) for p in model.parameters()):
        from zoo.evaluate import NonFiniteOutput  # stored scores cannot vouch for such weights

        raise NonFiniteOutput(f"model {ref} has NaN or inf weights: it is broken (did "
                              "training diverge?), so it is not compared")
    config = _data_config(saved.scoring(), data, overrides or {})  # its test masks
    stored = read_scores(folder)
    wanted = (eval_id(config.dataset, config.mask, config.mask_args, config.test_limit,
                      config.image_size) if config.test_limit else None)
    if stored is not None and MODEL in stored.scorers and (
            not overrides or not any(v is not None for v in overrides.values())
            or stored.eval_id == wanted):
        return label(ref, folder), stored, config
    return label(ref, folder), _score_now(model, config, None), config


def check_side(text: str) -> None:
    """Refuse a malformed side before anything is loaded or scored."""
    from zoo.baselines import BASELINES

    for part in (p.strip() for p in text.split(",")):
        name = part[len(BASELINE_PREFIX):] if part.startswith(BASELINE_PREFIX) else None
        if name is not None and name not in BASELINES:
            raise unknown("baseline", part, [f"{BASELINE_PREFIX}{b}" for b in BASELINES])


def side(text: str, *, like: Any = None, storage: Any = None, db: Any = None,
         data: str | None = None, device: str = "cpu",
         overrides: dict[str, Any] | None = None) -> tuple[Side, Any]:
    """Parse and score one side. ``like`` (a config) gives a baseline its eval set."""
    from zoo.baselines import BASELINES

    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise ZooError(f"empty model reference '{text}'; give a model, baseline:NAME or a "
                       "comma-separated list of models (the seeds of one config)")
    if parts[0].startswith(BASELINE_PREFIX):
        name = parts[0][len(BASELINE_PREFIX):]
        if len(parts) > 1:
            raise ZooError(f"'{text}': a baseline is deterministic, it has no seeds to list")
        if name not in BASELINES:
            raise unknown("baseline", parts[0], [f"{BASELINE_PREFIX}{b}" for b in BASELINES])
        config = like if like is not None else _default_config(data, overrides or {})
        scores = _score_now(None, config, name)
        return Side(f"{BASELINE_PREFIX}{name}", scores.eval_id, [scores], name, [None]), config
    if any(p.startswith(BASELINE_PREFIX) for p in parts):
        raise ZooError(f"'{text}' mixes a baseline with models; compare them as two sides")
    seeds, labels, seed_values, config = [], [], [], None
    for part in parts:
        lab, scores, cfg = model_side_scores(part, storage=storage, db=db, data=data,
                                             device=device, overrides=overrides)
        seeds.append(scores)
        labels.append(lab)
        seed_values.append(getattr(cfg, "seed", None))
        config = config or cfg
    ids = {s.eval_id for s in seeds}
    if len(ids) > 1:
        raise ZooError(f"the models of '{text}' were scored on different eval sets "
                       f"({', '.join(sorted(ids))}); give --mask and --test-limit to score "
                       "them all on one")
    return Side(",".join(labels), seeds[0].eval_id, seeds, MODEL, seed_values), config


def _default_config(data: str | None, overrides: dict[str, Any]) -> Any:
    from zoo.data import data_folder
    from zoo.settings import build_config

    folder = data_folder(data)
    return build_config({"data_dir": folder} if folder else None,
                        {k: v for k, v in overrides.items() if v is not None}, plugins=False)


def check_same_set(a: Side, b: Side) -> None:
    """Refuse a paired comparison of sides scored on different frozen sets."""
    if a.eval_id != b.eval_id:
        raise ZooError(f"{a.label} was scored on {a.eval_id} and {b.label} on {b.eval_id}: a "
                       "paired test needs the same images and holes; score both on one set "
                       "with `zoo compare A B --stats --mask KIND --test-limit N`")
    fa, fb = a.seeds[0].masks_sha256, b.seeds[0].masks_sha256
    if fa and fb and fa != fb:
        raise ZooError(f"{a.label} and {b.label} both name {a.eval_id} but their masks differ "
                       "(different zoo versions?); score both again with `zoo compare A B "
                       "--stats --mask KIND --test-limit N`")


def compare_sides(a: Side, b: Side, metrics: tuple[str, ...] = BINNED) -> dict[str, Any]:
    """The paired comparison of ``a`` and ``b`` per metric (``zoo.stats.compare_scores``)."""
    from zoo.metrics import AREA_BINS, bin_name
    from zoo.stats import compare_scores

    check_same_set(a, b)
    names = np.array([bin_name(*AREA_BINS[i]) if i >= 0 else "" for i in a.bins.tolist()],
                     dtype=object)
    seeds = ((a.seed_values, b.seed_values)
             if a.seed_values is not None and b.seed_values is not None else None)
    return {m: compare_scores(a.matrix(m), b.matrix(m), metric=m,
                              higher_is_better=TABLE[m].higher_is_better, bins=names,
                              seeds=seeds)
            for m in metrics}

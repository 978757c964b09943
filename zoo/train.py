"""The training function: config in, metrics and checkpoints out.

``train()`` serves both ``zoo train`` and every Ray Tune trial. It prints nothing; callers
pass ``on_epoch`` / ``on_step`` callbacks to watch it. The whole data path stays on the
training device: the dataset is one uint8 tensor there, batches are taken by index and
masks are generated there in one vectorised call.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.optim.swa_utils import AveragedModel

from zoo._dist import (local_slice, mean_over_workers, refuse_trainable_terms, step_samples,
                       world, wrap)
from zoo.modelfolder.checkpoint import (CHECKPOINT_NAME, STATE_NAME, has_checkpoint,
                                        read_checkpoint, save_checkpoint)
from zoo.config import TrainConfig
from zoo.device import autocast, place_on_device, resolve_device, set_threads, uses_bf16
from zoo.evaluate import evaluate_checkpoint_model, evaluate_model
from zoo.settings import build_config, check_plugin_args
from zoo.errors import TrainingDiverged, ZooError
from zoo.losses import WeightedLoss, build_loss, term_optimizers
from zoo.masks import EVAL_SEED  # the frozen test-mask set every model is scored on

log = logging.getLogger(__name__)

VAL_MASK_SEED = 7  # a different frozen set for per-epoch validation (never tune on test)
NAN_CHECK_EVERY = 50  # steps between divergence checks (each one syncs the device)


def _diverged(loss: float, epoch: int, config: TrainConfig) -> None:
    raise TrainingDiverged(f"loss became {loss} in epoch {epoch + 1}; lower the learning rate "
                           f"(lr={config.lr}) or change the loss")


def _lr_lambda(config: TrainConfig, total_steps: int) -> Callable[[int], float] | None:
    """The lr multiplier per step for ``config.lr_schedule`` (None: constant, the paper's)."""
    warm = int(config.warmup * total_steps)
    if config.lr_schedule == "cosine":
        def cosine(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            progress = (step - warm) / max(1, total_steps - warm)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        return cosine
    return None


def _ema_with_warmup(decay: float) -> Callable[..., None]:
    """EMA update whose decay ramps up as (1 + n) / (10 + n) towards ``decay`` (as
    TensorFlow's ExponentialMovingAverage with num_updates): with a fixed 0.995 a run of a
    few hundred steps would still carry most of its random initial weights."""

    def update(ema_params: list[torch.Tensor], params: list[torch.Tensor],
               num_averaged: torch.Tensor) -> None:
        if ema_params and ema_params[0].is_floating_point():
            # computed on the device: a float() here would sync the GPU on every step
            n = num_averaged.to(ema_params[0].dtype)
            d = torch.clamp((1 + n) / (10 + n), max=decay)
            torch._foreach_lerp_(ema_params, params, 1 - d)
        else:  # integer buffers (BatchNorm's step count) follow the model
            for e, p in zip(ema_params, params):
                e.copy_(p)

    return update


@dataclass
class _TrainState:
    """What one run updates: the model, its optimizer and lr schedule, the EMA of its
    weights, and the loss with the optimizers of loss terms that train (a discriminator)."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    ema: AveragedModel | None
    loss: WeightedLoss
    term_optimizers: dict[str, torch.optim.Optimizer]
    grad_clip: float

    @classmethod
    def build(cls, model: torch.nn.Module, config: TrainConfig, steps_per_epoch: int,
              device: torch.device) -> _TrainState:
        loss = build_loss(config).to(device)
        opt_cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
        optimizer = opt_cls(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        total = steps_per_epoch * config.epochs
        scheduler: Any = None
        if config.lr_schedule == "onecycle":
            scheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=config.lr, total_steps=total,
                pct_start=config.warmup or 0.3)
        elif (fn := _lr_lambda(config, total)) is not None:
            scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, fn)
        ema = None
        if config.ema > 0:  # BatchNorm statistics are averaged too (use_buffers)
            ema = AveragedModel(model, multi_avg_fn=_ema_with_warmup(config.ema),
                                use_buffers=True)
        return cls(model, optimizer, scheduler, ema, loss, term_optimizers(loss),
                   config.grad_clip)

    @property
    def eval_model(self) -> torch.nn.Module:
        """The weights to evaluate and ship: the EMA when there is one."""
        return self.ema.module if self.ema is not None else self.model

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def payload(self) -> dict[str, Any]:
        """Checkpoint entries: ``model`` holds the weights for inference (the EMA's when
        there is one); the rest is needed only to resume. All tensors and plain values."""
        out: dict[str, Any] = {"model": self.eval_model.state_dict(),
                               "optimizer": self.optimizer.state_dict()}
        if self.ema is not None:
            out["train_model"] = self.model.state_dict()
            out["ema_n_averaged"] = self.ema.n_averaged.clone()
        if self.scheduler is not None:
            out["scheduler"] = self.scheduler.state_dict()
        if self.term_optimizers:
            out["loss_state"] = self.loss.state_dict()
            out["loss_optimizers"] = {k: o.state_dict() for k, o in self.term_optimizers.items()}
        return out

    def load(self, payload: dict[str, Any]) -> None:
        """Resume from ``payload()``'s entries."""
        self.model.load_state_dict(payload.get("train_model", payload["model"]))
        self.optimizer.load_state_dict(payload["optimizer"])
        if self.ema is not None:
            self.ema.module.load_state_dict(payload["model"])
            self.ema.n_averaged.copy_(payload.get("ema_n_averaged", torch.tensor(1)))
        if self.scheduler is not None and "scheduler" in payload:
            self.scheduler.load_state_dict(payload["scheduler"])
        if self.term_optimizers and "loss_state" in payload:
            self.loss.load_state_dict(payload["loss_state"])
            for name, opt in self.term_optimizers.items():
                opt.load_state_dict(payload["loss_optimizers"][name])

    def step(self, out: torch.Tensor, x: torch.Tensor, m: torch.Tensor
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One optimisation step on a batch's output: trainable loss terms first (on the
        detached output), then the model; returns the model's loss and its terms."""
        for name, opt in self.term_optimizers.items():
            opt.zero_grad(set_to_none=True)
            self.loss.terms[name].update(out.detach(), x, m).backward()
            opt.step()
        loss, parts = self.loss(out, x, m)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        return loss.detach(), parts


def repeat_batch(idx: torch.Tensor, repeats: float) -> torch.Tensor:
    """A step's image indices drawn again in order until there are round(len(idx) x
    repeats) of them (``mask_repeats``; every repeat then gets a mask of its own)."""
    n = step_samples(len(idx), repeats)
    if n <= len(idx):
        return idx
    return idx.repeat(-(-n // len(idx)))[:n]


def _masker(config: TrainConfig, h: int, w: int, gen: torch.Generator, device: torch.device
            ) -> Callable[[int], torch.Tensor]:
    """Training masks ``(n, 1, h, w)`` drawn with ``gen``; the generator and its options are
    resolved once per run, not on every step."""
    from zoo.plugin.registry import get_registry, mask_config

    spec = get_registry().mask(config.mask).spec
    mask_cfg = mask_config(config.mask, config.mask_args)
    return lambda n: spec.generate(mask_cfg, n, h, w, gen, device).float()


def _fit_epoch(run: _Run, epoch: int, on_step: Callable[[int, int], None] | None
               ) -> tuple[float, dict[str, float]]:
    """One pass over the training images; returns the mean loss and mean of each term."""
    config, state, gen, device = run.config, run.state, run.gen, run.device
    # Seeding per epoch makes a resumed run draw the same batches and masks.
    gen.manual_seed(config.seed * 1000 + epoch)
    state.model.train()
    perm = torch.randperm(len(run.train_x), device=device, generator=gen).to(run.train_x.device)
    total = torch.zeros((), device=device)
    sums: dict[str, torch.Tensor] = {}
    for step in range(run.steps_per_epoch):
        idx = perm[step * config.batch_size:(step + 1) * config.batch_size]
        idx = repeat_batch(idx, config.mask_repeats)  # each image again, under a new mask
        m = run.masker(len(idx))  # (B, 1, H, W), 1 = hole: the global batch's, on every rank
        flip = (torch.rand(len(idx), device=device, generator=gen) < 0.5
                if config.augment == "hflip" else None)  # the global batch's, as the masks
        part = local_slice(len(idx))  # this worker's shard of it (all of it on one process)
        idx, m = idx[part], m[part]
        x = run.train_x[idx].to(device, non_blocking=True).float().div_(255)  # (b,3,H,W) 0..1
        if flip is not None:
            x = torch.where(flip[part, None, None, None], x.flip(-1), x)
        masked = x * (1 - m)
        if run.channels_last:
            masked = masked.contiguous(memory_format=torch.channels_last)
        with autocast(device, config.amp, config.cpu_amp):
            out = run.step_model(masked, m)
        loss, parts = state.step(out.float(), x, m)
        total += loss
        for k, v in parts.items():
            sums[k] = sums.get(k, 0) + v
        if step % NAN_CHECK_EVERY == NAN_CHECK_EVERY - 1 and not torch.isfinite(total):
            _diverged(total.item(), epoch, config)  # a sync every N steps, not every step
        if on_step is not None:
            on_step(step + 1, run.steps_per_epoch)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    train_loss = mean_over_workers(total).item() / run.steps_per_epoch
    if not math.isfinite(train_loss):
        _diverged(train_loss, epoch, config)
    return train_loss, {k: float(v) / run.steps_per_epoch for k, v in sums.items()}


@dataclass
class _Run:
    """What one training run holds between its steps: set up once by :meth:`start`."""

    config: TrainConfig
    out_dir: Path
    device: torch.device
    threads: int
    splits: Any  # zoo.data.Splits
    train_x: torch.Tensor  # (N, 3, H, W) uint8, on the training device
    val_masks: torch.Tensor  # the frozen validation holes
    state: _TrainState
    step_model: torch.nn.Module  # the model, compiled when config.compile
    masker: Callable[[int], torch.Tensor]
    gen: torch.Generator
    steps_per_epoch: int
    channels_last: bool
    facts: dict[str, Any]  # what the result and the leaderboard say about the run

    @property
    def checkpoint(self) -> Path:
        return self.out_dir / CHECKPOINT_NAME

    @classmethod
    def start(cls, config: TrainConfig, out_dir: Path, splits: Any) -> _Run:
        """Device, model, loss and masks (each fails fast on a bad option, before any data
        loads), then the data and the optimisation state."""
        from zoo.data import load_dataset
        from zoo.masks import frozen_masks
        from zoo.model import build_model, count_parameters
        from zoo.plugin.registry import get_registry

        out_dir.mkdir(parents=True, exist_ok=True)
        threads = set_threads(config.threads)
        device = resolve_device(config.device)
        torch.manual_seed(config.seed)
        model = build_model(config).to(device)
        # the mask's and loss terms' options, and the terms themselves, fail before data
        # loads (building the terms also draws their initial weights, as every run has)
        check_plugin_args(config)
        refuse_trainable_terms(build_loss(config))
        gen = torch.Generator(device=device)
        splits = splits if splits is not None else load_dataset(config)
        train_x = place_on_device(splits.train, device)  # (N, 3, H, W) uint8
        n_train, _, h, w = train_x.shape
        masker = _masker(config, h, w, gen, device)
        # channels_last on the CPU only under bf16: a float32 run keeps the layout (and so
        # the rounding, and the scores) its seed gave before the CPU could take it
        bf16 = uses_bf16(device, config.amp, config.cpu_amp)
        use_cl = config.channels_last and (device.type == "cuda" or bf16)
        if use_cl:
            model = model.to(memory_format=torch.channels_last)
        # A last batch of one image would break BatchNorm on a 1x1 map: drop it.
        # (with several workers a short last batch is dropped: it may not split over them)
        short = n_train % config.batch_size >= 2 and world()[1] == 1
        steps = max(1, n_train // config.batch_size + short)
        facts = {"encoder": config.encoder,
                 "plugin_version": get_registry().encoder(config.encoder).version,
                 "params": count_parameters(model), "device": str(device), "threads": threads,
                 "precision": "bf16" if bf16 else "fp32",
                 "config": config.to_dict(), "config_hash": config.hash()}
        val_masks = frozen_masks(config.mask, config.mask_args, len(splits.val), h, w,
                                 seed=VAL_MASK_SEED)
        return cls(config, out_dir, device, threads, splits, train_x, val_masks,
                   _TrainState.build(model, config, steps, device),
                   torch.compile(wrap(model, device)) if config.compile else
                   wrap(model, device), masker, gen, steps,
                   use_cl, facts)


def _resume(run: _Run, resume: bool) -> tuple[int, list[dict[str, Any]]]:
    """(epochs done, history): none for a new run, else the checkpoint's, with the state
    restored. A checkpoint of another config in the folder is refused either way, and kept."""
    if not has_checkpoint(run.out_dir):  # refuses an old pickled checkpoint.pt there
        return 0, []
    payload = read_checkpoint(run.checkpoint)
    if build_config(payload["config"], plugins=False).hash() != run.config.hash() or \
            payload["config"].get("seed") != run.config.seed:
        raise ZooError(f"{run.checkpoint} was written by a different config; use another "
                       "--out (the old checkpoint is kept)")
    if not resume:
        return 0, []
    done, history = _resume_point(run, payload)
    try:
        run.state.load(payload)
        _set_rng(run, payload.get("rng"))
    except (KeyError, ValueError, RuntimeError, TypeError, IndexError, AttributeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ZooError(f"{run.out_dir / STATE_NAME}: the resume state is damaged ({first}); "
                       "train into another --out (this folder's model is kept)") from None
    log.info("resumed %s at epoch %d", run.checkpoint, done)
    return done, history


def _resume_point(run: _Run, payload: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    """The checkpoint's epoch and history, refused unless the epoch is one this run has."""
    epoch, history = payload.get("epoch"), payload.get("history", [])
    if type(epoch) is not int or not 1 <= epoch <= run.config.epochs:
        raise ZooError(f"{run.out_dir / STATE_NAME}: the resume state's epoch is {epoch!r}, "
                       f"not one of 1..{run.config.epochs} (the run's epochs); train into "
                       "another --out (this folder's model is kept)")
    if not isinstance(history, list) or not all(isinstance(r, dict) for r in history):
        raise ZooError(f"{run.out_dir}: the history is not a list of epoch records; train "
                       "into another --out (this folder's model is kept)")
    return epoch, list(history)


def _rng_state(run: _Run) -> dict[str, torch.Tensor]:
    """The random state a resumed run needs to go on as if never stopped: torch's default
    generators (dropout draws from them) and the run's batch and mask generator. Each is a
    uint8 tensor, plain resume state."""
    out = {"torch": torch.get_rng_state(), "batches": run.gen.get_state()}
    if run.device.type == "cuda":
        out["cuda"] = torch.cuda.get_rng_state(run.device)
    return out


def _set_rng(run: _Run, saved: Any) -> None:
    """Restore :func:`_rng_state` (a checkpoint written before it was saved has none: its
    run goes on with fresh random state). The CUDA state only on a CUDA device."""
    if saved is None:
        return
    if not isinstance(saved, dict) or not all(isinstance(v, torch.Tensor)
                                              for v in saved.values()):
        raise TypeError("rng is not a mapping of generator states")
    torch.set_rng_state(saved["torch"])
    run.gen.set_state(saved["batches"])
    if run.device.type == "cuda" and "cuda" in saved:
        torch.cuda.set_rng_state(saved["cuda"], run.device)


def _epoch_record(run: _Run, epoch: int, on_step: Callable[[int, int], None] | None
                  ) -> dict[str, Any]:
    """Train one epoch, then score the frozen validation holes."""
    t0 = time.perf_counter()
    train_loss, parts = _fit_epoch(run, epoch, on_step)
    epoch_time = time.perf_counter() - t0
    val = evaluate_model(run.state.eval_model, run.splits.val, run.val_masks,
                         batch_size=run.config.eval_batch_size, channels_last=run.channels_last)
    return {"epoch": epoch + 1, "train_loss": train_loss, "epoch_time_s": epoch_time,
            "train_images_per_s": len(run.train_x) / epoch_time, "lr": run.state.lr,
            **{f"loss_{k}": v for k, v in parts.items()},
            **{f"val_{k}": v for k, v in val.items() if k != "n_images"}}


def _save_curves(run: _Run, history: list[dict[str, Any]]) -> None:
    from zoo.viz import save_learning_curves

    # before the checkpoint, so the picture travels with each copy of the folder
    save_learning_curves(history, run.out_dir / "curves.png")


def _save_epoch(run: _Run, history: list[dict[str, Any]]) -> None:
    save_checkpoint(run.checkpoint, {"config": run.config, **run.state.payload(),
                                     "epoch": history[-1]["epoch"], "history": history,
                                     "rng": _rng_state(run),
                                     "plugin": run.facts["plugin_version"]})


# What happens after each epoch, in order: side effects the loop itself knows nothing of.
AFTER_EPOCH: tuple[Callable[[_Run, list[dict[str, Any]]], None], ...] = (_save_curves,
                                                                          _save_epoch)


def _final_eval(run: _Run, baselines: tuple[str, ...]) -> dict[str, Any]:
    """Test metrics on the frozen test holes beside the references, the picture of a few,
    and the metrics written into the checkpoint."""
    from zoo.baselines import BASELINES
    from zoo.masks import frozen_masks
    from zoo.scores import write_scores
    from zoo.viz import save_eval_grid

    model, test = run.state.eval_model, run.splits.test
    n, _, h, w = test.shape
    scoring = run.config.scoring()  # the test mask, which may differ from training's
    masks = frozen_masks(scoring.mask, scoring.mask_args, n, h, w, seed=EVAL_SEED)
    kept: dict[str, Any] = {}
    result = evaluate_checkpoint_model(model, scoring, test, masks=masks,
                                       baselines=baselines, image_scores=kept,
                                       train_data=run.train_x)
    write_scores(run.out_dir, kept["scores"])
    result["grid_png"] = str(save_eval_grid(model, test, masks, run.out_dir / "grid.png", n=8,
                                            extra={"telea": BASELINES["telea"]}))
    return result


def _record_metrics(run: _Run, result: dict[str, Any]) -> None:
    payload = {**read_checkpoint(run.checkpoint), "config": run.config}  # as saved: no rebuild
    payload["metrics"] = {k: v for k, v in result.items() if k not in ("history", "config")}
    save_checkpoint(run.checkpoint, payload)


def train(config: TrainConfig, out_dir: str | Path, *, resume: bool = True,
          splits: Any = None,
          on_epoch: Callable[[dict[str, Any], Path], None] | None = None,
          on_step: Callable[[int, int], None] | None = None,
          final_eval: bool = True, baselines: tuple[str, ...] = ("mean_fill", "telea")
          ) -> dict[str, Any]:
    """Train ``config``'s model, checkpoint every epoch into ``out_dir``, evaluate on test.

    Resumes from ``out_dir``'s checkpoint when ``resume`` and it exists (same config
    required). ``splits`` (a ``zoo.data.Splits``) skips loading data, so a Tune node loads
    it once. ``on_epoch(record, checkpoint_path)`` runs after each epoch's checkpoint.
    Returns the final metrics (see docs/leaderboard.md) with run facts and the checkpoint path.
    """
    run = _Run.start(config, Path(out_dir).resolve(), splits)
    done, history = _resume(run, resume)
    for epoch in range(done, config.epochs):
        history.append(_epoch_record(run, epoch, on_step))
        for after in AFTER_EPOCH if world()[0] == 0 else ():  # rank 0 writes
            after(run, history)
        if on_epoch is not None:
            on_epoch(history[-1], run.checkpoint)
    train_time = sum(r["epoch_time_s"] for r in history)
    result = {**run.facts, "epochs_done": len(history), "history": history,
              "curves_png": str(run.out_dir / "curves.png") if history else None,
              "checkpoint": str(run.checkpoint), "train_time_s": train_time,
              "train_images_per_s": len(run.train_x) * len(history) / max(train_time, 1e-9)}
    if final_eval:
        result.update(_final_eval(run, baselines))
        _record_metrics(run, result)
    return result

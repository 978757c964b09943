"""Inference options as rows: each model plain, with ``--tta flip``, with ``--seam poisson``
and with both, on the same frozen test holes, and each option against plain with a paired
test over images *and* the models given (the seeds of one config, paired seed by seed:
``zoo.stats``, "paired seeds").

    python benchmarks/bench_inference.py quick-1 quick-3 --storage results --test-limit 2000
    python benchmarks/bench_inference.py runs/strong-s0 runs/strong-s1 runs/strong-s2

Prints one line per model and option (hole PSNR, hole SSIM, seconds) and one per option
against plain (mean difference, 95 % interval, p), with the machine it ran on.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

OPTIONS = ("none", "flip", "poisson", "flip+poisson")


def _wrapped(model: torch.nn.Module, option: str) -> torch.nn.Module:
    from zoo.ensemble import wrap
    from zoo.seam import Seamed

    net = wrap([model], "flip" if "flip" in option else "none")
    return Seamed(net) if "poisson" in option else net


def main() -> int:
    from zoo.data import load_dataset
    from zoo.evaluate import EVAL_SEED, score_model
    from zoo.masks import frozen_masks
    from zoo.modelfolder.checkpoint import load_model
    from zoo.modelfolder.refs import resolve_model
    from zoo.settings import build_config
    from zoo.stats import compare_scores, mean_interval

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+", help="model folders or trial ids (the seeds of one config)")
    p.add_argument("--storage", default=None, help="where trial ids live (zoo tune --storage)")
    p.add_argument("--test-limit", type=int, default=2000)
    p.add_argument("--options", default=",".join(OPTIONS),
                   help=f"comma-separated, from {', '.join(OPTIONS)}")
    args = p.parse_args()
    options = [o.strip() for o in args.options.split(",")]
    bad = [o for o in options if o not in OPTIONS]
    if bad or "none" not in options:
        p.error(f"--options needs 'none' and only {', '.join(OPTIONS)}; got {args.options}")
    torch.set_num_threads(max(1, len(getattr(__import__("os"), "sched_getaffinity")(0))))
    print("machine:", machine(torch.device("cpu")))
    scores: dict[str, list[dict[str, np.ndarray]]] = {o: [] for o in options}
    seeds = []
    test = masks = None
    for ref in args.models:
        model, saved, _ = load_model(resolve_model(ref, storage=args.storage), device="cpu")
        config = build_config(saved.scoring(), {"test_limit": args.test_limit}, plugins=False)
        if test is None:
            test = load_dataset(config).test
            n, _, h, w = test.shape
            masks = frozen_masks(config.mask, config.mask_args, n, h, w, seed=EVAL_SEED)
            print(f"eval set: {config.dataset}, {config.mask} masks, {n} images")
        seeds.append(config.seed)
        for option in options:
            start = time.perf_counter()
            acc = score_model(_wrapped(model, option), test, masks, batch_size=250)
            per_image, means = acc.image_scores(), acc.compute()
            scores[option].append(per_image)
            print(f"{ref} seed {config.seed} {option:>13}: hole PSNR {means['psnr_hole']:.3f}"
                  f"  hole SSIM {means['ssim_hole']:.4f}  {time.perf_counter() - start:.1f} s",
                  flush=True)
    for metric in ("psnr_hole", "ssim_hole"):
        base = np.stack([s[metric] for s in scores["none"]])
        mean, lo, hi = mean_interval(base)
        print(f"{metric} none: {mean:.4f} [{lo:.4f}, {hi:.4f}]")
        for option in options:
            if option == "none":
                continue
            x = np.stack([s[metric] for s in scores[option]])
            c = compare_scores(x, base, metric=metric, seeds=(seeds, seeds))
            print(f"{metric} {option} - none: {c.mean_diff:+.4f} [{c.ci[0]:+.4f}, "
                  f"{c.ci[1]:+.4f}]  p {c.p_value:.2g}  ({c.p_test}; {c.n_images} images, "
                  f"seeds {seeds})")
            for k, s in enumerate(seeds):  # each seed alone: images only
                ck = compare_scores(x[k], base[k], metric=metric)
                print(f"    seed {s}: {ck.mean_diff:+.4f} [{ck.ci[0]:+.4f}, {ck.ci[1]:+.4f}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The results table: presets x seeds, scored on every mask kind's frozen test set.

Each (preset, seed) is trained once with ``zoo.train.train`` (runs resume in ``--runs``),
then scored on the frozen test masks of each kind in ``--masks``; irregular masks are
also split by hole area (0-10 %, ..., 50-60 %). The references (Telea, Navier-Stokes,
mean fill) are scored on the same masks. Prints a markdown table of mean +- sample std
over seeds, then the paired comparisons on the same images (``zoo.stats.compare_scores``:
each preset against the first one and against Telea, per mask kind, the interval
resampling seeds and then images), and writes every number to ``--json``.

    python benchmarks/bench_quality.py --train-limit 10000 --epochs 3 --seeds 0,1,2
    python benchmarks/bench_quality.py --presets "strong,strong+unet.prefill=pushpull"
    python benchmarks/bench_quality.py --smoke      # tiny, for CI: proves the script runs
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import split_presets  # noqa: E402

REFS = ("telea", "navier_stokes", "mean_fill")


def _mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def evaluate(model: Any, config: Any, test: Any, kind: str) -> tuple[dict[str, Any], Any]:
    """Model and references on the frozen test masks of ``kind``, with the per-image
    scores (a ``zoo.scores.ImageScores``)."""
    from zoo.evaluate import evaluate_checkpoint_model

    cfg = dataclasses.replace(config, mask=kind, mask_args={})
    kept: dict[str, Any] = {}
    result = evaluate_checkpoint_model(model, cfg, test, baselines=REFS, image_scores=kept)
    return result, kept["scores"]


def paired(scores: dict[str, dict[str, list[Any]]], masks: list[str]) -> list[dict[str, Any]]:
    """Each preset against the first and against Telea, per mask kind: hole PSNR A - B
    (``zoo.evidence.compare_sides``, which also refuses sides of different frozen sets)."""
    from zoo.evidence import Side, compare_sides
    from zoo.scores import MODEL

    names = list(scores)
    rows = []
    for kind in masks:
        side = {n: Side(n, s[0].eval_id, s, MODEL) for n, s in
                ((n, scores[n][kind]) for n in names)}
        telea = Side("baseline:telea", side[names[0]].eval_id, scores[names[0]][kind][:1],
                     "telea")
        for a, b in [(side[n], side[names[0]]) for n in names[1:]] + [
                (side[n], telea) for n in names]:
            c = compare_sides(a, b, metrics=("psnr_hole",))["psnr_hole"]
            rows.append({"mask": kind, "a": a.label, "b": b.label, **c.to_dict()})
    return rows


def print_paired(rows: list[dict[str, Any]]) -> None:
    from zoo.stats import N_RESAMPLES

    floor = 1 / N_RESAMPLES  # printed as "<= floor": tiny p-values say no more than that
    print("\npaired comparisons, hole PSNR A - B (dB) on the same images; 95 % interval "
          "with seed variation included (zoo.stats)\n")
    print("| mask | A | B | seeds | A - B | 95 % interval | p | P(A better on an image) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        lo, hi = r["ci"]
        p = (f"≤ {floor:.4f}" if r["p_value"] <= floor else f"{r['p_value']:.3f}")
        print(f"| {r['mask']} | {r['a']} | {r['b']} | {r['n_seeds'][0]} vs {r['n_seeds'][1]} "
              f"| {r['mean_diff']:+.2f} | [{lo:+.2f}, {hi:+.2f}] | {p} ({r['p_test']}) "
              f"| {r['prob_better']:.2f} |")


def main(argv: list[str] | None = None) -> int:
    from zoo.cli._common import parse_sets
    from zoo.config import preset
    from zoo.settings import build_config
    from zoo.data import load_dataset
    from zoo.train import train

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", default="paper,strong",
                   help="comma-separated presets, each optionally with +KEY=VALUE overrides "
                        "(e.g. strong+unet.prefill=pushpull)")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--train-limit", type=int, default=10000)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--test-limit", type=int, default=2000)
    p.add_argument("--masks", default="paper,square,irregular")
    p.add_argument("--runs", default="runs/quality", help="run folders (resumed if present)")
    p.add_argument("--data", help="CIFAR-10 folder (default $ZOO_DATA_DIR)")
    p.add_argument("--json", help="write every number here")
    p.add_argument("--smoke", action="store_true", help="tiny synthetic runs, for CI")
    args = p.parse_args(argv)
    masks = args.masks.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    scores: dict[str, dict[str, list[Any]]] = {}
    refs: dict[str, dict[str, Any]] = {}
    t0 = time.perf_counter()
    for name in split_presets(args.presets):
        for seed in seeds:
            base, *sets = name.split("+")
            data = {"seed": seed, "train_limit": args.train_limit,
                    "epochs": args.epochs, "test_limit": args.test_limit, "val_limit": 500}
            if args.data:
                data["data_dir"] = str(Path(args.data).resolve())
            if args.smoke:
                data.update(dataset="synthetic", train_limit=64, val_limit=16, test_limit=16,
                            epochs=1, **{"unet.widths": [8, 16, 32]})
            config = build_config(preset(base), parse_sets(sets), data)
            folder = name.replace("+", "_").replace("=", "-").replace("/", "-")
            out = train(config, Path(args.runs) / f"{folder}-s{seed}", final_eval=False)
            from zoo.modelfolder.checkpoint import load_model

            model = load_model(out["checkpoint"])[0]
            test = load_dataset(config).test[:config.test_limit]
            for kind in masks:
                r, per_image = evaluate(model, config, test, kind)
                results.setdefault(name, {}).setdefault(kind, []).append(r)
                scores.setdefault(name, {}).setdefault(kind, []).append(per_image)
                refs.setdefault(kind, r["baselines"])
            print(f"# {name} seed {seed}: " + ", ".join(
                f"{k} {results[name][k][-1]['psnr_hole']:.2f} dB" for k in masks),
                file=sys.stderr, flush=True)
    print(f"\nhole PSNR (dB) / hole SSIM on {config.test_limit} {config.dataset} test images "
          f"per mask kind; {config.train_limit} training images x {config.epochs} epochs; "
          f"mean ± std over seeds "
          f"{args.seeds}; {time.perf_counter() - t0:.0f} s\n")
    print("| model | " + " | ".join(masks) + " |")
    print("|---|" + "---|" * len(masks))
    for name, by_kind in results.items():
        cells = [f"{_mean_std([r['psnr_hole'] for r in by_kind[k]])} / "
                 f"{statistics.mean(r['ssim_hole'] for r in by_kind[k]):.3f}" for k in masks]
        print(f"| {name} | " + " | ".join(cells) + " |")
    for ref in REFS:
        print(f"| {ref} | " + " | ".join(f"{refs[k][ref]['psnr_hole']:.2f} / "
                                        f"{refs[k][ref]['ssim_hole']:.3f}" for k in masks) + " |")
    if "irregular" in masks:
        bins = [k.split("@")[1] for k in refs["irregular"]["telea"] if k.startswith("n@")]
        print("\nirregular masks by hole area: hole PSNR (dB)\n")
        print("| model | " + " | ".join(f"{b} %" for b in bins) + " |")
        print("|---|" + "---|" * len(bins))
        for name, by_kind in results.items():
            print(f"| {name} | " + " | ".join(
                _mean_std([r[f"psnr_hole@{b}"] for r in by_kind["irregular"]]) for b in bins)
                + " |")
        for ref in REFS:
            print(f"| {ref} | " + " | ".join(
                f"{refs['irregular'][ref][f'psnr_hole@{b}']:.2f}" for b in bins) + " |")
        print("| images | " + " | ".join(str(refs["irregular"]["telea"][f"n@{b}"])
                                        for b in bins) + " |")
    comparisons = paired(scores, masks)
    print_paired(comparisons)
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "references": refs,
                                               "paired": comparisons},
                                              default=str, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

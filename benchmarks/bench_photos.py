"""Real photos the project never trained on: zoo inpaint against OpenCV's Telea.

Photos: the ones scikit-image ships (astronaut, chelsea, coffee, rocket, camera, ...;
`pip install scikit-image`) plus matplotlib's Grace Hopper portrait and the test asset,
each at several sizes (45 px to the original, over 600 px a side) and in RGB, L or RGBA.
Masks: scratches (thin strokes), blobs (thick strokes) and boxes, seeded per photo,
covering 1-15 % of the image. Score: PSNR over the hole pixels (in the photo's own mode),
for zoo (coarse to fine, as `zoo inpaint` runs), zoo in one pass at full size, and Telea.

    python benchmarks/bench_photos.py runs/strong [--out docs/photo.png]
    python benchmarks/bench_photos.py runs/strong --seam --also runs/sharp --out cmp.png
    python benchmarks/bench_photos.py MODEL --smoke        # two small photos, for CI
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
# (file, mode): scikit-image's bundled photos, matplotlib's sample photo, the test asset
PHOTOS = [("skimage:astronaut.png", "RGB"), ("skimage:chelsea.png", "RGB"),
          ("skimage:coffee.png", "RGB"), ("skimage:rocket.jpg", "RGB"),
          ("skimage:motorcycle_left.png", "RGBA"), ("skimage:camera.png", "L"),
          ("skimage:brick.png", "L"), ("skimage:grass.png", "L"),
          ("matplotlib:grace_hopper.jpg", "RGB"), ("asset:hopper.png", "RGB")]
SIDES = (48, 160, 320, None)  # longer side in px; None: the photo's own size
# mask kinds: a registered generator and its options; all cover 1-15 % of the image
MASKS: dict[str, tuple[str, dict[str, Any]]] = {
    "scratches": ("irregular", {"min_width": 0.006, "max_width": 0.02, "box_prob": 0.0,
                                "min_hole": 0.01, "max_hole": 0.05, "max_strokes": 10}),
    "blobs": ("irregular", {"min_width": 0.04, "max_width": 0.1, "box_prob": 0.0,
                            "min_hole": 0.03, "max_hole": 0.15}),
    "boxes": ("square", {"min_frac": 0.1, "max_frac": 0.35}),
}


def _path(ref: str) -> Path | None:
    where, name = ref.split(":", 1)
    try:
        if where == "skimage":
            import skimage
            path = Path(skimage.__file__).parent / "data" / name
        elif where == "matplotlib":
            import matplotlib
            path = Path(matplotlib.get_data_path()) / "sample_data" / name
        else:
            path = ROOT / "tests" / "assets" / name
    except ImportError:
        return None
    return path if path.exists() else None


def photos(smoke: bool) -> list[tuple[str, Image.Image]]:
    """(name, PIL image) for every photo found, at every size, in its benchmark mode."""
    out = []
    for ref, mode in PHOTOS[-2:] if smoke else PHOTOS:
        path = _path(ref)
        if path is None:
            continue
        image = Image.open(path)
        image = image.convert("RGB").convert(mode) if mode != image.mode else image
        for side in ((48,) if smoke else SIDES):
            im = image
            if side is not None and max(image.size) > side:
                scale = side / max(image.size)
                im = image.resize((max(1, round(image.width * scale)),
                                   max(1, round(image.height * scale))), Image.LANCZOS)
            if mode == "RGBA":  # a real alpha channel, kept untouched by both methods
                alpha = np.linspace(128, 255, im.width, dtype=np.uint8)[None].repeat(im.height, 0)
                im = im.convert("RGB")
                im.putalpha(Image.fromarray(alpha))
            out.append((f"{Path(ref.split(':')[1]).stem}@{im.width}x{im.height}/{mode}", im))
    return out


def hole_psnr(a: np.ndarray, b: np.ndarray, hole: np.ndarray) -> float:
    err = (a.astype(np.float64) - b.astype(np.float64)) / 255.0
    mse = float((err[hole] ** 2).mean())
    return float("inf") if mse == 0 else -10 * np.log10(mse)


def telea(pixels: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """OpenCV's Telea, radius 3, on the photo's colour channels (alpha kept)."""
    import cv2

    m = hole.astype(np.uint8) * 255
    if pixels.shape[2] == 1:
        return cv2.inpaint(pixels[..., 0], m, 3, cv2.INPAINT_TELEA)[..., None]
    return cv2.inpaint(np.ascontiguousarray(pixels[..., :3]), m, 3, cv2.INPAINT_TELEA)


def _versus(rows: list[dict[str, Any]], a: str, b: str) -> str:
    """Column ``a`` against column ``b`` over the same photo/mask pairs: the paired mean
    difference, its 95 % interval and how often ``a`` is higher."""
    from zoo.stats import compare_scores

    c = compare_scores([r[a] for r in rows], [r[b] for r in rows])
    return (f"{c.mean_diff:+.3f} [{c.ci[0]:+.3f}, {c.ci[1]:+.3f}], better on "
            f"{int(sum(r[a] > r[b] for r in rows))} of {len(rows)}")


def main(argv: list[str] | None = None) -> int:
    from zoo.modelfolder.checkpoint import load_model
    from zoo.inpaint import Picture, generated_mask, inpaint_picture
    from zoo.modelfolder.refs import resolve_model

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help="a model: folder, its model.safetensors, or hf-hub:org/name")
    p.add_argument("--out", help="write one photo's masked | zoo [| --also] | Telea | original "
                                 "PNG here (zoo with --seam's blend where it is given)")
    p.add_argument("--smoke", action="store_true", help="two small photos only")
    p.add_argument("--json", action="store_true")
    p.add_argument("--seam", action="store_true",
                   help="also score zoo inpaint --seam poisson (zoo.seam), paired against "
                        "the plain fill")
    p.add_argument("--also", metavar="MODEL",
                   help="a second model (e.g. the sharp one), run with the same options as "
                        "the first (seamed with --seam), paired against it and drawn beside it")
    args = p.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    model = load_model(resolve_model(args.model))[0]
    other = load_model(resolve_model(args.also))[0] if args.also else None
    seam = "poisson" if args.seam else "none"
    rows, figure = [], None
    t0 = time.perf_counter()
    for name, image in photos(args.smoke):
        pixels = np.asarray(image)
        pixels = pixels[..., None] if pixels.ndim == 2 else pixels
        colour = pixels[..., :3] if pixels.shape[2] >= 3 else pixels
        for kind, (gen, gargs) in MASKS.items():
            seed = zlib.crc32(f"{name}/{kind}".encode())
            hole = generated_mask(gen, gargs, image.height, image.width, name, seed)
            picture = Picture(pixels, None)
            if pixels.shape[2] == 4:
                picture = Picture(pixels[..., :3], pixels[..., 3])
            zoo_ms = inpaint_picture(model, picture, hole).pixels
            zoo_1 = inpaint_picture(model, picture, hole, multiscale=False).pixels
            tel = telea(pixels, hole)
            row = {"photo": name, "mask": kind, "hole_pct": 100 * float(hole.mean()),
                   "zoo": hole_psnr(zoo_ms[..., :3], colour, hole),
                   "zoo_one_pass": hole_psnr(zoo_1[..., :3], colour, hole),
                   "telea": hole_psnr(tel[..., :colour.shape[2]], colour, hole)}
            shown = zoo_ms
            if args.seam:
                shown = inpaint_picture(model, picture, hole, seam="poisson").pixels
                row["zoo_seam"] = hole_psnr(shown[..., :3], colour, hole)
            also = None
            if other is not None:
                also = inpaint_picture(other, picture, hole, seam=seam).pixels
                row["also"] = hole_psnr(also[..., :3], colour, hole)
            rows.append(row)
            if figure is None or (name.startswith("chelsea@") and kind == "boxes"
                                  and max(image.size) > 300):
                masked = colour.copy()
                masked[hole] = 255
                figure = [masked, shown[..., :colour.shape[2]]]
                figure += [] if also is None else [also[..., :colour.shape[2]]]
                figure += [tel[..., :colour.shape[2]], colour]
    elapsed = time.perf_counter() - t0
    if not rows:
        print("no photos found: pip install scikit-image (and matplotlib)", file=sys.stderr)
        return 1
    zoo_mean = float(np.mean([r["zoo"] for r in rows]))
    one_mean = float(np.mean([r["zoo_one_pass"] for r in rows]))
    tel_mean = float(np.mean([r["telea"] for r in rows]))
    wins = int(sum(r["zoo"] > r["telea"] for r in rows))
    summary = {"photos": len(rows), "zoo_mean": zoo_mean, "zoo_one_pass_mean": one_mean,
               "telea_mean": tel_mean, "zoo_wins": wins, "seconds": elapsed}
    for kind in MASKS:
        sub = [r for r in rows if r["mask"] == kind]
        summary[f"{kind}: zoo / one pass / telea / wins"] = (
            f"{np.mean([r['zoo'] for r in sub]):.2f} / "
            f"{np.mean([r['zoo_one_pass'] for r in sub]):.2f} / "
            f"{np.mean([r['telea'] for r in sub]):.2f} / "
            f"{int(sum(r['zoo'] > r['telea'] for r in sub))} of {len(sub)}")
    if args.seam:
        summary["zoo_seam_mean"] = float(np.mean([r["zoo_seam"] for r in rows]))
        summary["seam - zoo (pairs of one model; not independent photos)"] = _versus(
            rows, "zoo_seam", "zoo")
        summary["zoo_seam_wins_over_telea"] = int(sum(r["zoo_seam"] > r["telea"] for r in rows))
    if other is not None:
        key = "zoo_seam" if args.seam else "zoo"
        summary["also"] = args.also
        summary["also_mean"] = float(np.mean([r["also"] for r in rows]))
        summary[f"also - {key} (pairs of one model each; not independent photos)"] = _versus(
            rows, "also", key)
        summary["also_wins_over_telea"] = int(sum(r["also"] > r["telea"] for r in rows))
    if args.out and figure is not None:
        gap = 4
        h, w = figure[0].shape[:2]
        n = len(figure)
        canvas = np.full((h, n * w + (n - 1) * gap, figure[0].shape[2]), 255, dtype=np.uint8)
        for i, panel in enumerate(figure):
            canvas[:, i * (w + gap): i * (w + gap) + w] = panel
        Image.fromarray(canvas.squeeze(-1) if canvas.shape[2] == 1 else canvas).save(args.out)
        summary["figure"] = args.out
    if args.json:
        print(json.dumps({"rows": rows, "summary": summary}, indent=1))
        return 0
    print(f"{'photo':34} {'mask':9} {'hole%':>5} {'zoo':>6} {'1pass':>6} {'telea':>6}")
    for r in rows:
        print(f"{r['photo']:34} {r['mask']:9} {r['hole_pct']:5.1f} {r['zoo']:6.2f} "
              f"{r['zoo_one_pass']:6.2f} {r['telea']:6.2f}")
    for k, v in summary.items():
        print(f"{k}: {v:.2f}" if isinstance(v, float) else f"{k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

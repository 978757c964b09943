"""What inpainting a photo costs as the photo grows and the holes stay: the full pass over
every pixel (the path before hole-only windows) against the windows around the holes.

Each photo (a smooth synthetic JPEG, 0.25 to 24 MP) gets the same holes (two 40x40 boxes)
and goes through what ``zoo inpaint`` does for one file: read the JPEG and the mask PNG,
inpaint (coarse to fine), write the PNG. Every size and path runs in a fresh process, so
its peak RSS (VmHWM) is its own. The model is a randomly initialised ``strong`` preset
(cost does not depend on the weights; the margin probe measures the architecture).

    python benchmarks/bench_inpaint_cost.py                       # 0.25, 1, 6, 24 MP
    python benchmarks/bench_inpaint_cost.py --sizes 0.25,24 --old-up-to 1
    python benchmarks/bench_inpaint_cost.py --smoke               # tiny, for CI
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from _common import apply_smoke, machine, print_json, print_table  # noqa: E402

SMOKE = {"sizes": "0.01,0.04", "old_up_to": 0.04, "preset": "tiny", "hole": 12}
ASPECT = 1.5  # 3:2, a phone camera's 6000x4000


def photo_size(mp: float) -> tuple[int, int]:
    """(width, height) of a 3:2 photo of about ``mp`` megapixels."""
    h = int(round((mp * 1e6 / ASPECT) ** 0.5))
    return int(round(h * ASPECT)), h


def make_photo(folder: Path, mp: float, hole: int) -> tuple[Path, Path]:
    """A smooth JPEG (gradients and soft noise) and its mask PNG: two hole x hole boxes."""
    from PIL import Image

    w, h = photo_size(mp)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.empty((h, w, 3), np.uint8)
    for ch, f in enumerate((0.7, 1.3, 2.1)):
        wave = 0.5 + 0.25 * np.sin(xx * (f * 6 / w)) + 0.2 * np.cos(yy * (f * 4 / h))
        img[..., ch] = np.clip(wave * 255 + rng.normal(0, 6, (h, w)), 0, 255).astype(np.uint8)
        del wave
    mask = np.zeros((h, w), np.uint8)
    for fy, fx in ((0.3, 0.25), (0.7, 0.7)):
        r, c = int(h * fy), int(w * fx)
        mask[r:r + hole, c:c + hole] = 255
    image, mask_path = folder / f"photo_{mp}.jpg", folder / f"photo_{mp}_mask.png"
    Image.fromarray(img).save(image, quality=92)
    Image.fromarray(mask).save(mask_path)
    return image, mask_path


def build(name: str) -> torch.nn.Module:
    from zoo.config import preset
    from zoo.model import build_model
    from zoo.settings import build_config

    torch.manual_seed(0)
    if name == "tiny":
        return build_model(build_config({"encoder": "none", "unet": {"widths": [8, 16, 32]}}))
    return build_model(build_config(preset(name))).eval()


def vm_hwm_mb() -> float:
    """This process's peak resident memory (Linux VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child(image: str, mask: str, path: str, preset: str, out: str) -> dict:
    """One photo through read, inpaint, write; in its own process (``--child``)."""
    from zoo.inpaint import inpaint_picture, read_image, read_mask
    from zoo.viz import save_png_atomic

    model = build(preset).eval()
    t0 = time.perf_counter()
    picture = read_image(image)
    hole = read_mask(mask, (picture.pixels.shape[1], picture.pixels.shape[0]))
    t1 = time.perf_counter()
    with torch.no_grad():
        result = inpaint_picture(model, picture, hole, _full=path == "old")
    t2 = time.perf_counter()
    save_png_atomic(result.to_pil(), Path(out))
    t3 = time.perf_counter()
    return {"read_s": t1 - t0, "inpaint_s": t2 - t1, "write_s": t3 - t2, "wall_s": t3 - t0,
            "peak_rss_mb": vm_hwm_mb()}


def run_child(image: Path, mask: Path, path: str, preset: str, out: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", str(image), str(mask), path, preset, str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{path} on {image.name} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="0.25,1,6,24", help="photo sizes, megapixels")
    parser.add_argument("--old-up-to", type=float, default=1.0,
                        help="run the full-pass path only up to this size (MP): it is slow")
    parser.add_argument("--preset", default="strong")
    parser.add_argument("--hole", type=int, default=40, help="side of each of the two holes")
    parser.add_argument("--smoke", action="store_true")
    args = apply_smoke(parser, parser.parse_args(argv), SMOKE)
    facts = machine(torch.device("cpu"))
    print_json("machine", facts)
    rows, records = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for mp in (float(s) for s in args.sizes.split(",")):
            image, mask = make_photo(Path(tmp), mp, args.hole)
            w, h = photo_size(mp)
            for path in ("old", "new") if mp <= args.old_up_to else ("new",):
                rec = {"mp": mp, "size": f"{w}x{h}", "path": path,
                       **run_child(image, mask, path, args.preset, Path(tmp) / "out.png")}
                print_json("BENCH_INPAINT_COST", rec)
                records.append(rec)
                rows.append([f"{w}x{h}", round(w * h / 1e6, 2), path, rec["wall_s"],
                             rec["inpaint_s"], rec["read_s"], rec["write_s"],
                             round(rec["peak_rss_mb"])])
    print_table(f"inpainting cost, two {args.hole}x{args.hole} holes, {args.preset} "
                f"(random weights), {facts['device_name']}",
                ["photo", "MP", "path", "wall s", "inpaint s", "read s", "write s",
                 "peak RSS MB"], rows)
    new = [r for r in records if r["path"] == "new"]
    ratio = new[-1]["wall_s"] / new[0]["wall_s"]
    print(f"new path: {new[-1]['size']} costs {ratio:.2f}x {new[0]['size']}")
    return {"machine": facts, "rows": records, "ratio": ratio}


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(*sys.argv[2:7])))
        sys.exit(0)
    main()
    sys.exit(0)

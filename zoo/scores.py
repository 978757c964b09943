"""Per-image test scores: what a model (and each reference) scored on every frozen image.

Means rank; per-image scores say how sure the ranking is (``zoo.stats``). They are kept
in the model folder (``scores.safetensors``) and in the leaderboard (a blob per row), in
safetensors format: plain arrays and a text header, nothing that can run code.

Layout: one float32 array per (scorer, metric), named ``SCORER/METRIC`` (``model/psnr_hole``,
``telea/ssim_hole``, ...), one int8 array ``bin`` (each image's hole-area bin, -1 without a
hole), and metadata ``eval_id`` (which frozen set, so like is compared with like) and
``masks_sha256`` (a fingerprint of the masks themselves).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zoo.errors import ZooError
from zoo.metrics import IMAGE_METRICS

MODEL = "model"
SCORES_NAME = "scores.safetensors"  # in a model folder, beside model.safetensors
MAX_BYTES = 64 * 2**20  # 10,000 images x 3 metrics x a few scorers is about 0.5 MB


@dataclass
class ImageScores:
    """Per-image hole metrics of one or more scorers on one eval set."""

    eval_id: str
    bins: np.ndarray  # (n,) int8 hole-area bin index, -1 without a hole
    scorers: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # name -> metric
    masks_sha256: str = ""

    @property
    def n_images(self) -> int:
        return int(len(self.bins))

    def get(self, scorer: str, metric: str) -> np.ndarray:
        try:
            return self.scorers[scorer][metric]
        except KeyError:
            raise ZooError(f"no per-image {metric} of '{scorer}' for {self.eval_id} (have: "
                           f"{', '.join(sorted(self.scorers)) or 'none'})") from None

    def to_bytes(self) -> bytes:
        from safetensors.numpy import save

        arrays = {f"{name}/{metric}": np.ascontiguousarray(values, dtype=np.float32)
                  for name, metrics in self.scorers.items() for metric, values in metrics.items()}
        arrays["bin"] = np.ascontiguousarray(self.bins, dtype=np.int8)
        return save(arrays, metadata={"eval_id": self.eval_id, "masks_sha256": self.masks_sha256})

    @classmethod
    def from_bytes(cls, data: bytes, where: str = "per-image scores") -> ImageScores:
        from safetensors.numpy import load

        if len(data) > MAX_BYTES:
            raise ZooError(f"{where} is {len(data)} bytes, over the {MAX_BYTES} a score file "
                           "can be; it is not one of zoo's")
        try:
            import json
            import struct

            header = json.loads(data[8:8 + struct.unpack("<Q", data[:8])[0]])
            meta = header.get("__metadata__") or {}
            arrays = load(data)
        except Exception as exc:  # noqa: BLE001  (safetensors raises its own error types)
            raise ZooError(f"{where} is not a valid scores file ({exc}); score the model "
                           "again with `zoo eval`") from None
        if "bin" not in arrays or "eval_id" not in meta:
            raise ZooError(f"{where} has no 'bin' array or no eval_id; not a zoo scores file")
        out = cls(eval_id=str(meta["eval_id"]), bins=arrays.pop("bin").astype(np.int8),
                  masks_sha256=str(meta.get("masks_sha256", "")))
        for key, values in arrays.items():
            name, _, metric = key.rpartition("/")
            if not name or metric not in IMAGE_METRICS or len(values) != out.n_images:
                raise ZooError(f"{where}: unexpected array '{key}' {values.shape}")
            out.scorers.setdefault(name, {})[metric] = values.astype(np.float64)
        return out


def masks_fingerprint(masks) -> str:
    """SHA-256 of the frozen masks' bits: two rows that claim one eval set share it."""
    import hashlib

    import torch

    bits = (masks > 0.5).to(torch.uint8).cpu().numpy()
    return hashlib.sha256(np.packbits(bits).tobytes()).hexdigest()


def from_accumulators(eval_id: str, accs: Mapping[str, Mapping[str, np.ndarray]],
                      masks_sha256: str = "") -> ImageScores:
    """Build from ``{scorer: MetricAccumulator.image_scores()}``."""
    bins = None
    scorers: dict[str, dict[str, np.ndarray]] = {}
    for name, scores in accs.items():
        bins = scores["bin"] if bins is None else bins
        scorers[name] = {k: np.asarray(scores[k]) for k in IMAGE_METRICS if k in scores}
    return ImageScores(eval_id, np.asarray(bins if bins is not None else [], np.int8), scorers,
                       masks_sha256)


def write_scores(folder: str | Path, scores: ImageScores) -> Path:
    """``folder/scores.safetensors``, written atomically."""
    from zoo._atomic import write_bytes

    return write_bytes(Path(folder) / SCORES_NAME, scores.to_bytes())


def read_scores(folder: str | Path) -> ImageScores | None:
    """The folder's per-image scores, or None when it has none (an older model folder)."""
    import os
    import stat

    path = Path(folder) / SCORES_NAME
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        raise ZooError(f"{path} is not a regular file (a link or device?); zoo reads only "
                       "regular files from a model folder")
    if st.st_size > MAX_BYTES:
        raise ZooError(f"{path} is {st.st_size} bytes, over the {MAX_BYTES} a score file can be")
    return ImageScores.from_bytes(path.read_bytes(), str(path))

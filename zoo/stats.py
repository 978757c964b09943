"""How sure a comparison is: intervals over test images (and seeds), and paired tests.

Every model and baseline of one eval set is scored on the same frozen holes, so two of
them can be compared image by image (a paired test, as machine translation has done since
Koehn 2004). A config trained with several seeds varies from seed to seed as well: its
interval resamples seeds first, then images within them (a two-level bootstrap, as
rliable's stratified bootstrap resamples runs), so seed-to-seed variation is part of it.

Scores come as arrays ``(n_seeds, n_images)`` (a 1-D array is one seed), one column per
frozen test image in eval-set order. NaN marks an image without a hole (no hole metric);
such images are left out, pairwise. One seed uses ``scipy.stats.bootstrap`` (BCa); several
seeds use the two-level percentile bootstrap written here, vectorised over resamples.

When both sides of a comparison are the same seeds (seed k of A and seed k of B: a model
and its test-time flip, or two configs trained with seeds 0, 1, 2), the seeds are paired
too: what the two sides share through their seed (the same weights, or the same data order
and masks) cancels in the differences D[k, i] = A[k, i] - B[k, i] instead of widening the
interval. Their mean's standard error comes from a two-way random-effects ANOVA of D (seed,
image, residual mean squares), with Satterthwaite's degrees of freedom and a Student t
interval: with 2 or 3 seeds a bootstrap over seeds covers far less than 95 % when the seed
term dominates (measured 85 % with 3 seeds), the t interval keeps its level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zoo.errors import ZooError

CONFIDENCE = 0.95
N_RESAMPLES = 2000  # enough for the 2.5 / 97.5 % points to move by < 0.01 dB on our sets
BATCH = 100  # resamples per vectorised step: (BATCH, n_images) floats at a time
SEED = 0  # intervals are reproducible: the same scores give the same interval


def as_seeds(scores: Any) -> np.ndarray:
    """``(n_images,)`` or ``(n_seeds, n_images)`` -> float64 ``(n_seeds, n_images)``."""
    x = np.asarray(scores, dtype=np.float64)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[1] == 0 or x.shape[0] == 0:
        raise ZooError(f"scores must be (n_images,) or (n_seeds, n_images), got {x.shape}")
    return x


def _usable(*arrays: np.ndarray) -> np.ndarray:
    """Images every array has a score for (NaN: no hole in that image)."""
    keep = np.ones(arrays[0].shape[1], bool)
    for a in arrays:
        keep &= ~np.isnan(a).any(0)
    return keep


def _two_level(per_seed: list[np.ndarray], signs: tuple[float, ...], n_resamples: int,
               rng: np.random.Generator) -> np.ndarray:
    """Bootstrap distribution of ``sum_k sign_k * mean over images of (mean over resampled
    seeds of array k)``, images resampled once per draw for all arrays (paired)."""
    n = per_seed[0].shape[1]
    out = np.empty(n_resamples)
    for start in range(0, n_resamples, BATCH):
        r = min(BATCH, n_resamples - start)
        y = np.zeros((r, n))
        for x, sign in zip(per_seed, signs):
            k = x.shape[0]
            if k > 1:  # unbiased seed-level spread: a plain bootstrap of k seeds
                mean = x.mean(0)  # shrinks their variance by (k - 1) / k
                x = mean + (x - mean) * math.sqrt(k / (k - 1))
            seeds = rng.integers(0, k, size=(r, k))  # which seeds each draw takes
            weights = np.stack([np.bincount(s, minlength=k) for s in seeds]) / k  # (r, k)
            y += sign * (weights @ x)  # (r, n): each image's mean over the drawn seeds
        images = rng.integers(0, n, size=(r, n))
        out[start:start + r] = np.take_along_axis(y, images, axis=1).mean(1)
    return out


def _interval(per_seed: list[np.ndarray], signs: tuple[float, ...], confidence: float,
              n_resamples: int, seed: int) -> tuple[float, float]:
    point_images = sum(s * x.mean(0) for x, s in zip(per_seed, signs))  # (n,)
    if not np.isfinite(point_images).all():
        value = float(point_images.mean())
        return value, value  # an inf (perfect) score has no spread to speak of
    if np.ptp(point_images) == 0 and all(np.ptp(x, axis=0).max() == 0 for x in per_seed):
        value = float(point_images[0])
        return value, value  # no variation at all: every resample gives the same mean
    if len(point_images) == 1 and all(x.shape[0] == 1 for x in per_seed):
        value = float(point_images[0])
        return value, value  # one image, one seed: nothing to resample
    alpha = (1 - confidence) / 2
    if all(x.shape[0] == 1 for x in per_seed):
        from scipy import stats

        res = stats.bootstrap((point_images,), np.mean, confidence_level=confidence,
                              n_resamples=n_resamples, method="BCa", batch=BATCH,
                              random_state=np.random.default_rng(seed))
        lo, hi = res.confidence_interval
        if math.isfinite(lo) and math.isfinite(hi):
            return float(lo), float(hi)
    dist = _two_level(per_seed, signs, n_resamples, np.random.default_rng(seed))
    lo, hi = np.quantile(dist, [alpha, 1 - alpha])
    return float(lo), float(hi)


def mean_interval(scores: Any, *, confidence: float = CONFIDENCE,
                  n_resamples: int = N_RESAMPLES, seed: int = SEED
                  ) -> tuple[float, float, float]:
    """``(mean, lo, hi)``: the mean score over images (and seeds) with its interval."""
    x = as_seeds(scores)
    x = x[:, _usable(x)]
    if x.shape[1] == 0:
        return math.nan, math.nan, math.nan
    lo, hi = _interval([x], (1.0,), confidence, n_resamples, seed)
    return float(x.mean()), lo, hi


@dataclass
class Comparison:
    """A paired comparison of A and B on one eval set (see :func:`compare_scores`)."""

    metric: str
    mean_diff: float  # mean of A - B over images (and seeds)
    ci: tuple[float, float]
    p_value: float
    p_test: str
    prob_better: float  # P(A beats B on an image), ties half
    n_images: int
    n_seeds: tuple[int, int]
    higher_is_better: bool = True
    paired_seeds: bool = False  # seed k of A against seed k of B (see the module's text)
    by_bin: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def separable(self) -> bool:
        """True when the interval excludes 0: the data tell A and B apart."""
        lo, hi = self.ci
        return not (lo <= 0 <= hi) and not (math.isnan(lo) or math.isnan(hi))

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "mean_diff": self.mean_diff, "ci": list(self.ci),
                "p_value": self.p_value, "p_test": self.p_test,
                "prob_better": self.prob_better, "n_images": self.n_images,
                "n_seeds": list(self.n_seeds), "higher_is_better": self.higher_is_better,
                "paired_seeds": self.paired_seeds,
                "separable": self.separable, "by_bin": self.by_bin}


def _p_value(d: np.ndarray) -> tuple[float, str]:
    from scipy import stats

    test = "wilcoxon signed-rank over images"
    if not np.isfinite(d).all():
        return math.nan, test
    if np.all(d == 0):
        return 1.0, test  # identical on every image
    if len(d) < 2:
        return math.nan, test
    return float(stats.wilcoxon(d, zero_method="zsplit").pvalue), test


def _seed_level_p(a: np.ndarray, b: np.ndarray, n_resamples: int, seed: int
                  ) -> tuple[float, str]:
    """With several seeds an image-level test would ignore seed variation (two seeds of
    one config differ "significantly" over 10,000 images): the two-sided p of the
    two-level bootstrap distribution of the difference instead."""
    dist = _two_level([a, b], (1.0, -1.0), n_resamples, np.random.default_rng(seed))
    p = 2 * min(float(np.mean(dist <= 0)), float(np.mean(dist >= 0)))
    return min(1.0, max(p, 1 / n_resamples)), "two-level bootstrap (seeds, then images)"


PAIRED_TEST = "t over paired seeds and images (two-way ANOVA, Satterthwaite df)"


def paired_seed_t(diff: np.ndarray, confidence: float = CONFIDENCE
                  ) -> tuple[float, float, float, float]:
    """``(lo, hi, p, df)`` for the mean of ``diff`` ``(k seeds >= 2, n images)``, the
    per-seed paired differences: seeds and images both random effects. The variance of the
    grand mean is ``(MS_seed + MS_image - MS_residual) / (k n)`` (never below the larger of
    the first two alone, as sampling can make the difference small), on Satterthwaite's
    degrees of freedom."""
    from scipy import stats

    k, n = diff.shape
    mean = float(diff.mean())
    if not np.isfinite(diff).all():
        return mean, mean, math.nan, math.nan
    if np.ptp(diff) == 0:
        return mean, mean, (1.0 if mean == 0 else 0.0), math.inf
    seed_means, image_means = diff.mean(1), diff.mean(0)
    ms_seed = n * float(seed_means.var(ddof=1))
    if n > 1:
        ms_image = k * float(image_means.var(ddof=1))
        resid = diff - seed_means[:, None] - image_means[None, :] + mean
        ms_resid = float((resid ** 2).sum()) / ((k - 1) * (n - 1))
        terms = [(ms_seed, k - 1), (ms_image, n - 1), (-ms_resid, (k - 1) * (n - 1))]
    else:
        terms = [(ms_seed, k - 1)]
    num = sum(m for m, _ in terms)
    if num < max(m for m, _ in terms[:2]):
        terms = [max(terms[:2])]  # the larger term alone: conservative
        num = terms[0][0]
    df = num ** 2 / sum(m ** 2 / f for m, f in terms if m)
    se = math.sqrt(num / (k * n))
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
    p = float(2 * stats.t.sf(abs(mean) / se, df)) if se > 0 else (1.0 if mean == 0 else 0.0)
    return mean - half, mean + half, p, df


def _compare(a: np.ndarray, b: np.ndarray, higher: bool, confidence: float,
             n_resamples: int, seed: int, paired: bool = False) -> dict[str, Any]:
    d = a.mean(0) - b.mean(0)  # (n,) per-image difference of the seed means
    if paired:  # one array of per-seed differences: see the module's text
        lo, hi, p, _ = paired_seed_t(a - b, confidence)
        test = PAIRED_TEST
    elif max(a.shape[0], b.shape[0]) > 1 and np.isfinite(d).all() and not np.all(a == b):
        lo, hi = _interval([a, b], (1.0, -1.0), confidence, n_resamples, seed)
        p, test = _seed_level_p(a, b, n_resamples, seed)
    else:
        lo, hi = _interval([a, b], (1.0, -1.0), confidence, n_resamples, seed)
        p, test = _p_value(d)
    wins = (d > 0) if higher else (d < 0)
    return {"mean_diff": float(d.mean()), "ci": (lo, hi), "p_value": p, "p_test": test,
            "prob_better": float((wins.sum() + 0.5 * (d == 0).sum()) / len(d)),
            "n_images": int(len(d))}


def pair_seeds(a: np.ndarray, b: np.ndarray, seeds: Any) -> np.ndarray | None:
    """B's rows in the order of A's seeds when both sides are the same seeds, each once, two
    or more of them (``seeds``: A's and B's seed per row, None where unknown); else None
    (the sides are resampled independently)."""
    if seeds is None:
        return None
    sa, sb = (list(s) for s in seeds)
    if len(sa) != a.shape[0] or len(sb) != b.shape[0]:
        raise ZooError(f"seeds name {len(sa)} and {len(sb)} models, the scores "
                       f"{a.shape[0]} and {b.shape[0]}")
    if (len(sa) < 2 or None in sa or None in sb or len(set(sa)) != len(sa)
            or sorted(sa) != sorted(sb)):
        return None
    return b[[sb.index(s) for s in sa]]


def _bin_order(label: Any) -> tuple[float, str]:
    """Hole-area bins in area order ("0-10" < "10-20" < "60+"), other labels after."""
    head = str(label).split("-")[0].rstrip("+")
    try:
        return float(head), str(label)
    except ValueError:
        return math.inf, str(label)


def compare_scores(a: Any, b: Any, *, metric: str = "psnr_hole", higher_is_better: bool = True,
                   bins: Any = None, confidence: float = CONFIDENCE,
                   n_resamples: int = N_RESAMPLES, seed: int = SEED,
                   seeds: Any = None) -> Comparison:
    """Paired comparison of A and B: per-image scores ``(n_seeds, n_images)`` of the same
    frozen images. ``bins`` (per image, the hole-area bin name or index; -1 or None for no
    hole) adds the same comparison per bin. ``seeds`` (A's and B's training seed per row)
    pairs the seeds when both sides are the same ones (:func:`pair_seeds`)."""
    a, b = as_seeds(a), as_seeds(b)
    if a.shape[1] != b.shape[1]:
        raise ZooError(f"A has scores for {a.shape[1]} images and B for {b.shape[1]}: a paired "
                       "comparison needs both scored on the same eval set")
    aligned = pair_seeds(a, b, seeds)
    paired = aligned is not None
    b = aligned if paired else b
    keep = _usable(a, b)
    if not keep.any():
        raise ZooError("no image has a score for both A and B (no hole pixels?)")
    main = _compare(a[:, keep], b[:, keep], higher_is_better, confidence, n_resamples, seed,
                    paired)
    by_bin: dict[str, dict[str, Any]] = {}
    if bins is not None:
        labels = np.asarray(bins)[keep]
        for label in sorted(set(labels.tolist()), key=_bin_order):
            if label in (-1, None, ""):
                continue
            sel = labels == label
            part = _compare(a[:, keep][:, sel], b[:, keep][:, sel], higher_is_better,
                            confidence, min(n_resamples, 1000), seed, paired)
            by_bin[str(label)] = {**part, "ci": list(part["ci"])}
    return Comparison(metric=metric, n_seeds=(a.shape[0], b.shape[0]),
                      higher_is_better=higher_is_better, paired_seeds=paired, by_bin=by_bin,
                      **main)

"""How sure a comparison is: intervals over test images (and seeds), and paired tests.

Every model and baseline of one eval set is scored on the same frozen holes, so two of
them can be compared image by image (a paired test, as machine translation has done since
Koehn 2004). A config trained with several seeds varies from seed to seed as well, so
seed-to-seed variation is part of its interval: seeds and images are both random effects.

Scores come as arrays ``(n_seeds, n_images)`` (a 1-D array is one seed), one column per
frozen test image in eval-set order. NaN marks an image without a hole (no hole metric);
such images are left out, pairwise. One seed per side uses ``scipy.stats.bootstrap`` (BCa)
over images, and the Wilcoxon signed-rank test for a comparison.

Several seeds use a Student t interval (:func:`seeds_and_images_t`): the variance of the
mean (or of the difference of two means) is the seed term of each side, the variance of
its seed means over their count, plus the image term, the variance over images of the
per-image (difference of) seed means over the number of images, less the residual that
both count (two-way random-effects ANOVA), on Satterthwaite's degrees of freedom. With 2
or 3 seeds a bootstrap over seeds covers far less than 95 % when the seed term dominates
(measured 85 % with 2 seeds, 89 % with 3, where the t interval keeps its level), because
a handful of seeds says little about their spread: the t interval is as wide as that is.

When both sides of a comparison are the same seeds (seed k of A and seed k of B: a model
and its test-time flip, or two configs trained with seeds 0, 1, 2), the seeds are paired
too: what the two sides share through their seed (the same weights, or the same data order
and masks) cancels in the differences D[k, i] = A[k, i] - B[k, i] instead of widening the
interval, which is then that of the mean of D.
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
    if all(x.shape[0] == 1 for x in per_seed):
        from scipy import stats

        res = stats.bootstrap((point_images,), np.mean, confidence_level=confidence,
                              n_resamples=n_resamples, method="BCa", batch=BATCH,
                              random_state=np.random.default_rng(seed))
        lo, hi = res.confidence_interval
        if math.isfinite(lo) and math.isfinite(hi):
            return float(lo), float(hi)
    lo, hi, _, _ = seeds_and_images_t(per_seed, signs, confidence)
    return lo, hi


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


SEEDS_TEST = "t over seeds and images (random effects, Satterthwaite df)"
PAIRED_TEST = "t over paired seeds and images (two-way ANOVA, Satterthwaite df)"


def seeds_and_images_t(per_seed: list[np.ndarray], signs: tuple[float, ...],
                       confidence: float = CONFIDENCE) -> tuple[float, float, float, float]:
    """``(lo, hi, p, df)`` for ``sum_k sign_k * mean(per_seed[k])``, each array ``(seeds,
    n images)`` on the same images, seeds (independent between arrays) and images both
    random effects; ``p`` tests that the sum is 0.

    Its variance: for each array with several seeds, the variance of its seed means over
    their number (that array's seed term); plus the variance over images of the signed
    sum of per-image seed means, over the number of images (the image term); less, for each
    array with several seeds, its two-way ANOVA residual mean square over (seeds x images),
    which both of the others count. Sampling can make that small: it is never taken below
    the largest term alone (conservative). Degrees of freedom: Satterthwaite's. An array of
    one seed has no seed term to estimate; its seed's variation is not in the interval."""
    from scipy import stats

    mean = float(sum(sign * x.mean() for x, sign in zip(per_seed, signs)))
    if not all(np.isfinite(x).all() for x in per_seed):
        return mean, mean, math.nan, math.nan
    n = per_seed[0].shape[1]
    terms: list[tuple[float, float]] = []  # (variance term, its degrees of freedom)
    residuals: list[tuple[float, float]] = []
    for x in per_seed:
        k = x.shape[0]
        if k < 2:
            continue
        seed_means = x.mean(1)
        terms.append((float(seed_means.var(ddof=1)) / k, k - 1))
        if n > 1:
            resid = x - seed_means[:, None] - x.mean(0)[None, :] + x.mean()
            ms = float((resid ** 2).sum()) / ((k - 1) * (n - 1))
            residuals.append((ms / (k * n), (k - 1) * (n - 1)))
    if n > 1:
        images = sum(sign * x.mean(0) for x, sign in zip(per_seed, signs))
        terms.append((float(np.var(images, ddof=1)) / n, n - 1))
    var = sum(v for v, _ in terms) - sum(v for v, _ in residuals)
    parts = terms + [(-v, f) for v, f in residuals]
    largest = max(terms, default=(0.0, math.inf))
    if var < largest[0]:
        var, parts = largest[0], [largest]
    if var <= 0:  # no spread at all
        return mean, mean, (1.0 if mean == 0 else 0.0), math.inf
    df = var ** 2 / sum(v ** 2 / f for v, f in parts if v)
    se = math.sqrt(var)
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
    p = float(2 * stats.t.sf(abs(mean) / se, df))
    return mean - half, mean + half, p, df


def paired_seed_t(diff: np.ndarray, confidence: float = CONFIDENCE
                  ) -> tuple[float, float, float, float]:
    """``(lo, hi, p, df)`` for the mean of ``diff`` ``(k seeds >= 2, n images)``, the
    per-seed paired differences: :func:`seeds_and_images_t` of that one array (the variance
    of the grand mean ``(MS_seed + MS_image - MS_residual) / (k n)``)."""
    return seeds_and_images_t([diff], (1.0,), confidence)


def _compare(a: np.ndarray, b: np.ndarray, higher: bool, confidence: float,
             n_resamples: int, seed: int, paired: bool = False) -> dict[str, Any]:
    d = a.mean(0) - b.mean(0)  # (n,) per-image difference of the seed means
    if paired:  # one array of per-seed differences: see the module's text
        lo, hi, p, _ = paired_seed_t(a - b, confidence)
        test = PAIRED_TEST
    elif max(a.shape[0], b.shape[0]) > 1 and np.isfinite(d).all() and not np.all(a == b):
        # an image-level test would ignore seed variation (two seeds of one config differ
        # "significantly" over 10,000 images): the t of seeds and images instead
        lo, hi, p, _ = seeds_and_images_t([a, b], (1.0, -1.0), confidence)
        test = SEEDS_TEST
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

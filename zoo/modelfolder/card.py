"""The model card (``README.md`` of a model folder): YAML front matter the Hugging Face Hub
reads (license, library, tags, datasets, metrics), then what the model is, how it was
trained and scored (beside the classical baselines and the ceiling on the same masks),
which plugin packages it needs, and how to use it."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import yaml

from zoo.metrics import TABLE

MARKER = "<!-- written by zoo: a model card; zoo rewrites it on every save -->"
METRIC_KEYS = tuple(k for k, m in TABLE.items() if m.reference and m.brief)
_PICTURES = ("grid.png", "curves.png")  # linked from the card when the folder has them
_MASK_PROTOCOL = (" Mask protocol: 1 (white) = hole; the\n  model's input is "
                  "`image * (1 - mask)` and the mask.")
_FILES = """## Files

`model.safetensors` (weights), `config.json`, `zoo.json` (format and plugin requirements),
`metrics.json`, `history.json`: no pickle anywhere.
"""


def owns_card(path: Path) -> bool:
    """True when ``path`` may be (re)written as a card: absent, or a regular file zoo wrote."""
    if path.is_symlink():
        return False
    if not path.exists():
        return True
    if not path.is_file():
        return False
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            head = f.read(4096)
    except OSError:
        return False
    return MARKER in head


def _num(value: Any) -> Any:
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def scored_section(metrics: dict[str, Any] | None, missing: str) -> str:
    """Markdown: the model's test metrics beside the baselines and the ceiling on the same
    frozen masks, or ``missing`` when there are none (model cards, export cards)."""
    if not metrics:
        return missing
    rows = {"this model": metrics, **(metrics.get("baselines") or {})}
    return (f"Scored on the frozen test masks `{metrics.get('eval_id', '?')}` "
            f"({metrics.get('n_images', '?')} images), beside the classical baselines "
            "and the ceiling on the same holes:\n\n" + _table(rows))


def _table(rows: dict[str, dict[str, Any]]) -> str:
    lines = ["| method | " + " | ".join(METRIC_KEYS) + " |", "|---" * (len(METRIC_KEYS) + 1) + "|"]
    for name, m in rows.items():
        cells = []
        for k in METRIC_KEYS:
            v = m.get(k) if isinstance(m, dict) else None
            cells.append("inf" if isinstance(v, float) and math.isinf(v) else
                         f"{v:.4g}" if isinstance(v, (int, float)) and not isinstance(v, bool)
                         else "-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def intervals(folder: Path, metrics: dict[str, Any] | None) -> dict[str, list[float]]:
    """95 % intervals of the model's hole metrics over its test images, from the folder's
    per-image scores when they are of the eval set ``metrics`` name (else none)."""
    from zoo.scores import MODEL, read_scores
    from zoo.stats import mean_interval

    try:
        scores = read_scores(folder)
    except Exception:  # noqa: BLE001  a damaged scores file costs the card its intervals only
        return {}
    if not metrics or scores is None or MODEL not in scores.scorers \
            or scores.eval_id != metrics.get("eval_id"):
        return {}
    return {m: list(mean_interval(v, n_resamples=1000)[1:])
            for m, v in scores.scorers[MODEL].items()}


def _interval_lines(cis: dict[str, list[float]]) -> str:
    if not cis:
        return ""
    parts = [f"{m} [{lo:.4g}, {hi:.4g}]" for m, (lo, hi) in cis.items()]
    return ("\n\n95 % intervals of this model's means over the test images (bootstrap): "
            + ", ".join(parts) + ".")


def _provenance_lines(metrics: dict[str, Any] | None) -> str:
    prov = (metrics or {}).get("provenance")
    if not isinstance(prov, dict):
        return ""
    versions = ", ".join(f"{k} {v}" for k, v in (prov.get("versions") or {}).items() if v)
    return ("\n\nProvenance: " + versions + f"; git {prov.get('git_commit') or 'n/a'}; "
            f"train data sha256 {prov.get('train_data_sha256') or 'n/a'}; masks sha256 "
            f"{prov.get('masks_sha256') or 'n/a'}; device {prov.get('device')}.")


def model_index(config: Any, metrics: dict[str, Any] | None, cis: dict[str, list[float]],
                name: str) -> list[dict[str, Any]] | None:
    """The Hub's ``model-index`` (huggingface_hub ``EvalResult``s): hole PSNR and SSIM with
    "mean ± half-interval" in each result's name."""
    if not metrics:
        return None
    from huggingface_hub import EvalResult, ModelCardData

    results = []
    for key, label in (("psnr_hole", "hole PSNR (dB)"), ("ssim_hole", "hole SSIM")):
        value = metrics.get(key)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            continue
        ci = cis.get(key)
        spread = f" ± {(ci[1] - ci[0]) / 2:.3g} (95 %)" if ci else ""
        results.append(EvalResult(
            task_type="image-inpainting", dataset_type=config.dataset,
            dataset_name=f"{config.dataset} ({metrics.get('eval_id')})",
            metric_type=key, metric_value=round(float(value), 4),
            metric_name=f"{label}: {value:.4g}{spread}"))
    if not results:
        return None
    return ModelCardData(model_name=name, eval_results=results).to_dict().get("model-index")


def model_card(config: Any, meta: dict[str, Any], metrics: dict[str, Any] | None,
               history: list[dict[str, Any]] | None, folder: Path,
               license: str | None = None, repo_id: str | None = None) -> str:
    """The README.md text of a model folder."""
    requires = meta.get("requires") or {}
    enc = requires.get("encoder") or {}
    mask = requires.get("mask") or {}
    license = license or meta.get("info", {}).get("license") or "unknown"
    front = _front_matter(config, meta, metrics, license, (enc, mask))
    cis = intervals(folder, metrics)
    index = model_index(config, metrics, cis, repo_id or folder.name)
    if index:
        front["model-index"] = index
    history = history or []
    ref = f"hf-hub:{repo_id}" if repo_id else "MODEL_FOLDER_OR_HUB_ID"
    data = (f"`{config.dataset}`, image size {config.image_size}, train_limit="
            f"{config.train_limit},\n  val_limit={config.val_limit}, "
            f"test_limit={config.test_limit}")
    body = "\n\n".join([
        _intro(config, history, license),
        _usage(ref),
        "## Plugins it needs\n\n" + _plugins(enc, mask),
        "## Data and masks\n\n" + training_lines(config, data, _MASK_PROTOCOL),
        metrics_section(metrics, "No test metrics yet (the card is rewritten after training's "
                                 "final evaluation; `zoo eval` scores the model).")
        + _interval_lines(cis) + _provenance_lines(metrics),
        # may be empty: the blank paragraph stays, so a card is the same with or without
        "\n".join(f"![{p}]({p})" for p in _PICTURES if (folder / p).is_file()),
        config_section(config),
        _FILES,
    ])
    return "---\n" + yaml.safe_dump(front, sort_keys=False) + "---\n" + body


def _front_matter(config: Any, meta: dict[str, Any], metrics: dict[str, Any] | None,
                  license: str, requires: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    """The YAML the Hugging Face Hub reads: license, library, tags, datasets, metrics."""
    front: dict[str, Any] = {
        "license": license,
        "library_name": "zoo-inpaint",
        "pipeline_tag": "image-to-image",
        "tags": ["image-inpainting", "zoo-inpaint", f"encoder:{config.encoder}",
                 f"mask:{config.mask}"],
        "datasets": [config.dataset],
    }
    if metrics:
        front["metrics"] = ["psnr", "ssim"]
        front["zoo"] = {"eval_id": metrics.get("eval_id"),
                        **{k: _num(metrics.get(k)) for k in METRIC_KEYS if k in metrics}}
    front.setdefault("zoo", {})
    front["zoo"].update({
        "format": f"{meta.get('format')} v{meta.get('version')}",
        "requires": [{k: v for k, v in r.items()} for r in requires if r],
        "config_hash": config.hash(),
    })
    return front


def _intro(config: Any, history: list[dict[str, Any]], license: str) -> str:
    val = history[-1].get("val_psnr_hole") if history else None
    return f"""{MARKER}
# {config.encoder} U-Net inpainter (zoo)

An image-inpainting model trained with zoo (package `zoo-inpaint`): a configurable U-Net
with the fusion encoder `{config.encoder}`, trained on `{config.dataset}` with
`{config.mask}` holes.

| | |
|---|---|
{model_rows(config, history)}
| last validation hole PSNR | {f"{val:.2f} dB" if isinstance(val, (int, float)) else "-"} |
| license | {license} |"""


def _usage(ref: str) -> str:
    return f"""## Use it

```bash
pip install zoo-inpaint
zoo inpaint --model {ref} --image photos/ --mask masks/ --out filled/
zoo eval {ref}
```

```python
import zoo
from PIL import Image

model = zoo.load("{ref}")
filled = model.inpaint(Image.open("photo.png"), Image.open("photo_mask.png"))  # white = hole
```"""


def _plugins(enc: dict[str, Any], mask: dict[str, Any]) -> str:
    """One line per plugin the model needs: its name, package, version and plugin."""
    return "\n".join(
        f"- {role}: `{r.get('name')}` from package `{r.get('package', '?')}` "
        f"{r.get('version', '?')} (plugin `{r.get('plugin', '?')}`)"
        for role, r in (("fusion encoder", enc), ("mask generator", mask)) if r) or "- (none)"


# ---- sections shared by model cards and export cards (zoo.modelfolder.export) --------------


def model_rows(config: Any, history: list[dict[str, Any]]) -> str:
    """Markdown table rows: the fusion encoder and its options, config hash and seed, epochs."""
    args = json.dumps(config.encoder_args) if config.encoder_args else ""
    return (f"| fusion encoder | `{config.encoder}` {args} |\n"
            f"| config hash | `{config.hash()}` (seed {config.seed}) |\n"
            f"| epochs trained | {len(history)} of {config.epochs} |")


def training_lines(config: Any, data: str, mask_note: str = "") -> str:
    """Markdown bullets: the data (``data`` says which), the masks, the recipe."""
    masks = json.dumps(config.mask_args) if config.mask_args else "(default options)"
    return (f"- Data: {data}.\n"
            f"- Masks: `{config.mask}` {masks};\n"
            f"  the model has only seen holes of this kind.{mask_note}\n"
            f"- Recipe: loss `{config.loss}`, optimizer `{config.optimizer}` lr {config.lr:g}, "
            f"batch size\n  {config.batch_size}, {config.epochs} epochs.")


def metrics_section(metrics: dict[str, Any] | None, missing: str, dice_note: str = "") -> str:
    """The card's Metrics section: ``scored_section`` and how to read the metrics."""
    return (f"## Metrics\n\n{scored_section(metrics, missing)}\n\n"
            "PSNR/SSIM/L1 \"hole\" are measured only inside the hole; \"dice\" is the paper's "
            f"whole-image\nDice{dice_note}. Judge models by the hole metrics.")


def config_section(config: Any) -> str:
    """The card's Config section: the whole TrainConfig as JSON."""
    return f"## Config\n\n```json\n{json.dumps(config.to_dict(), indent=2, default=str)}\n```"

"""Export a checkpoint's model to ONNX or TorchScript, verified against PyTorch.

Both exports take the model's own inputs, ``(masked, mask)``, at one fixed square size
with a dynamic batch axis. After writing, the exported file is loaded back (onnxruntime on
the CPU, or ``torch.jit.load``) and run on a random batch of a *different* batch size than
the one exported with; the largest absolute difference from PyTorch must stay below
``TOLERANCE`` or the export is deleted and a ZooError raised. A ``MODEL_CARD.md`` beside
the file records the config, metrics, data, masks and the input contract; it is written
only where no such file exists or zoo wrote it (never over a user's file or a link).
Both files are written atomically (``zoo._atomic``).

ONNX uses torch's default (dynamo / ``torch.export``) exporter, which needs onnxscript;
should it fail on a model, the older TorchScript-based exporter is tried. TorchScript is
``torch.jit.trace`` (deprecated by torch but still loadable from C++ and Python).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from zoo.errors import ZooError, unknown

log = logging.getLogger(__name__)

FORMATS = ("onnx", "torchscript")
SUFFIX = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}
TOLERANCE = 1e-4
MIN_SIZE, MAX_SIZE = 4, 4096  # --size: input height = width
EXPORT_BATCH = 2  # batch size of the example inputs (1 would let torch.export specialise it)
VERIFY_BATCH = 3  # a different one, so a baked-in batch size fails verification
INPUT_NAMES = ("masked", "mask")
CARD_NAME = "MODEL_CARD.md"  # written beside the export; only ever over a card zoo wrote
OUTPUT_NAME = "output"


@dataclass
class ExportResult:
    """What was written and how well it matches PyTorch."""

    path: Path
    format: str
    size: int
    max_abs_diff: float
    exporter: str  # "dynamo", "torchscript-onnx" or "jit.trace"
    card: Path
    notes: list[str] = field(default_factory=list)


def example_inputs(config: Any, batch: int, size: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """``(masked, mask)`` of random images with holes from the model's own mask kind."""
    from zoo.masks import make_masks

    gen = torch.Generator().manual_seed(seed)
    images = torch.rand(batch, 3, size, size, generator=gen)
    mask = make_masks(config.mask, config.mask_args, batch, size, size, generator=gen)
    return images * (1 - mask), mask


@contextlib.contextmanager
def _quiet():
    # Exporters warn about deprecations and traced shape checks; the verification below is
    # what tells whether the export is right.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _export_onnx(model: torch.nn.Module, inputs: tuple[torch.Tensor, ...], path: Path) -> str:
    batch = torch.export.Dim("batch", min=1, max=65536)
    errors = []
    try:
        with _quiet():
            program = torch.onnx.export(
                model, inputs, input_names=list(INPUT_NAMES), output_names=[OUTPUT_NAME],
                dynamic_shapes={"masked": {0: batch}, "mask": {0: batch}}, dynamo=True,
                verbose=False)
            program.save(str(path), external_data=False)
        return "dynamo"
    except Exception as exc:  # any exporter failure: fall back, and report both if that fails
        errors.append(f"dynamo exporter: {str(exc).splitlines()[0] if str(exc) else exc!r}")
        log.warning("dynamo ONNX export failed (%s); trying the TorchScript-based exporter", exc)
    try:
        with _quiet():
            torch.onnx.export(
                model, inputs, str(path), input_names=list(INPUT_NAMES),
                output_names=[OUTPUT_NAME], dynamo=False, opset_version=17,
                dynamic_axes={n: {0: "batch"} for n in (*INPUT_NAMES, OUTPUT_NAME)})
        return "torchscript-onnx"
    except Exception as exc:
        errors.append(f"TorchScript exporter: {str(exc).splitlines()[0] if str(exc) else exc!r}")
    raise ZooError("ONNX export failed: " + "; ".join(errors) +
                   "; try --format torchscript, or report the model's config")


def _export_torchscript(model: torch.nn.Module, inputs: tuple[torch.Tensor, ...],
                        path: Path) -> str:
    try:
        with _quiet():
            traced = torch.jit.trace(model, inputs, check_trace=False)
            torch.jit.save(traced, str(path))
    except Exception as exc:
        raise ZooError(f"TorchScript export failed: {exc}; try --format onnx") from None
    return "jit.trace"


def run_exported(path: Path, fmt: str, masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Run an exported file on the CPU: onnxruntime for ONNX, ``torch.jit.load`` otherwise."""
    if fmt == "onnx":
        try:
            import onnxruntime as ort
        except ImportError:
            raise ZooError("verifying an ONNX export needs onnxruntime: "
                           "pip install 'zoo-inpaint[export]'") from None
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        out = session.run([OUTPUT_NAME], {"masked": masked.numpy(), "mask": mask.numpy()})[0]
        return torch.from_numpy(out)
    with _quiet():
        loaded = torch.jit.load(str(path), map_location="cpu")
    with torch.no_grad():
        return loaded(masked, mask)


def _check_dest(dest: Path) -> None:
    """Never a link, and never a FIFO or device node replaced by the export."""
    from zoo._atomic import check_target

    check_target(dest)
    if dest.exists() and not dest.is_file():
        raise ZooError(f"{dest} exists and is not a regular file (a device or FIFO?); "
                       "export to another --out")


def export_checkpoint(checkpoint: str | Path, fmt: str = "onnx", out: str | Path | None = None,
                      size: int | None = None, *, tolerance: float = TOLERANCE) -> ExportResult:
    """Export the model in ``checkpoint`` as ``fmt`` (onnx | torchscript) to ``out``
    (default: beside the checkpoint), verify it, and write MODEL_CARD.md beside it."""
    from zoo._atomic import atomic_path
    from zoo.modelfolder.card import owns_card
    from zoo.modelfolder.checkpoint import checkpoint_file, load_model

    if fmt not in FORMATS:
        raise unknown("export format", fmt, FORMATS)
    if fmt == "onnx":
        try:
            import onnx  # noqa: F401
            import onnxscript  # noqa: F401
        except ImportError as exc:
            raise ZooError(f"ONNX export needs onnx and onnxscript ({exc}): "
                           "pip install 'zoo-inpaint[export]'") from None
    ckpt = checkpoint_file(checkpoint)
    model, config, payload = load_model(ckpt, device="cpu")
    if size is not None and not MIN_SIZE <= int(size) <= MAX_SIZE:
        raise ZooError(f"--size {size} is out of range; give a size from {MIN_SIZE} to "
                       f"{MAX_SIZE} (default: the training image size, {config.image_size})")
    size = int(size or config.image_size)
    fits = model.padded_size(size, size) if hasattr(model, "padded_size") else (size, size)
    if tuple(fits) != (size, size):
        raise ZooError(f"--size {size} does not fit this model (depth {config.unet.depth} and "
                       f"encoder '{config.encoder}'); use --size {fits[0]}")
    dest = Path(out) if out else ckpt.with_name(ckpt.stem + SUFFIX[fmt])
    if dest.is_dir() and not dest.is_symlink():
        dest = dest / (ckpt.stem + SUFFIX[fmt])
    card = dest.parent / CARD_NAME
    if not owns_card(card):  # checked before any work: never replace a card zoo did not write
        raise ZooError(f"{card} exists and was not written by `zoo export` (or is a link); "
                       "move it away or export to another --out folder")
    _check_dest(dest)

    inputs = example_inputs(config, EXPORT_BATCH, size, seed=0)
    with atomic_path(dest) as tmp:  # removed on any failure below; renamed when verified
        exporter = (_export_onnx if fmt == "onnx" else _export_torchscript)(model, inputs, tmp)
        masked, mask = example_inputs(config, VERIFY_BATCH, size, seed=1)
        with torch.no_grad():
            expected = model(masked, mask)
        try:
            got = run_exported(tmp, fmt, masked, mask)
        except ZooError:
            raise
        except Exception as exc:
            raise ZooError(f"the exported {fmt} file does not run on a batch of {VERIFY_BATCH} "
                           f"({str(exc).splitlines()[0]}); the export is broken") from None
        if tuple(got.shape) != tuple(expected.shape):
            raise ZooError(f"the exported {fmt} model returns shape {tuple(got.shape)} for a "
                           f"batch of {VERIFY_BATCH}, PyTorch {tuple(expected.shape)}")
        diff = float((got.float() - expected.float()).abs().max())
        if not diff < tolerance:  # also catches NaN
            raise ZooError(f"the exported {fmt} model differs from PyTorch by {diff:.3g} "
                           f"(tolerance {tolerance:g}); the export is not trustworthy")
    result = ExportResult(dest, fmt, size, diff, exporter, card)
    write_model_card(result, ckpt, config, payload)
    return result


def write_model_card(result: ExportResult, checkpoint: Path, config: Any,
                     payload: dict[str, Any]) -> Path:
    """Write MODEL_CARD.md: what the model is, how it was trained and scored, how to call it."""
    from zoo._atomic import write_text
    from zoo.modelfolder.card import config_section, metrics_section, training_lines

    history = payload.get("history") or []
    data = (f"`{config.dataset}`" + (f" from `{config.data_dir}`" if config.data_dir else "")
            + f", image size {config.image_size}, train_limit={config.train_limit}, "
              f"val_limit={config.val_limit}, test_limit={config.test_limit}")
    text = "\n\n".join([
        _card_header(result, checkpoint, config, history),
        _input_contract(result, config),
        "## Training data and masks\n\n" + training_lines(config, data),
        metrics_section(payload.get("metrics") or {},
                        "No test metrics in the checkpoint (training was stopped before the "
                        "final eval).", " (batches of 2), kept for comparison with the paper"),
        config_section(config),
    ]) + "\n"
    return write_text(result.card, text)


def _card_header(result: ExportResult, checkpoint: Path, config: Any,
                 history: list[dict[str, Any]]) -> str:
    """The card's title, provenance line and table: file, model, training, verification."""
    from zoo._version import __version__
    from zoo.modelfolder.card import MARKER, model_rows

    last = history[-1] if history else {}
    return f"""{MARKER}
# Model card: {config.encoder} U-Net inpainter

Exported {_dt.date.today().isoformat()} by zoo {__version__} from `{checkpoint}`.

| | |
|---|---|
| file | `{result.path.name}` ({result.format}, exporter: {result.exporter}) |
{model_rows(config, history)}
| last validation hole PSNR | {last.get('val_psnr_hole', float('nan')):.2f} dB |
| verified | max abs diff vs PyTorch {result.max_abs_diff:.2e} on a batch of {VERIFY_BATCH} (tolerance {TOLERANCE:g}) |
| torch | {torch.__version__} |"""


def _input_contract(result: ExportResult, config: Any) -> str:
    """What the exported file takes and returns, and how to run it."""
    s = result.size
    composite = ("The model already pastes the known pixels back (unet.composite=true)."
                 if config.unet.composite else
                 "Known pixels are not pasted back by the model: for the final image use "
                 "`masked * (1 - mask) + output * mask`.")
    return f"""## Input contract

- `masked`: float32 `(B, 3, {s}, {s})`, RGB in 0..1, **hole pixels set to 0**
  (`masked = image * (1 - mask)`).
- `mask`: float32 `(B, 1, {s}, {s})`, **1 = hole**, 0 = known.
- `output`: float32 `(B, 3, {s}, {s})` in 0..1. The batch axis is dynamic; height and width
  are fixed at {s}x{s}: pad or tile other sizes (`zoo inpaint` does both).
- {composite}

{_run_snippet(result)}"""


def _run_snippet(result: ExportResult) -> str:
    """A Python snippet that runs the exported file."""
    if result.format == "onnx":
        return ("```python\n"
                "import numpy as np, onnxruntime as ort\n"
                f"sess = ort.InferenceSession('{result.path.name}')\n"
                f"out = sess.run(['output'], {{'masked': masked, 'mask': mask}})[0]\n```")
    return ("```python\n"
            f"import torch\nmodel = torch.jit.load('{result.path.name}')\n"
            "out = model(masked, mask)\n```")

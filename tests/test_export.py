"""`zoo export`: ONNX (onnxruntime) and TorchScript agree with PyTorch at several batch
sizes, the model card says what the model takes, and a bad export is refused and removed."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from zoo.cli import main
from zoo.config import TrainConfig
from zoo.errors import ZooError
from zoo.modelfolder.export import TOLERANCE, example_inputs, export_checkpoint


@pytest.fixture(scope="module")
def fused(tmp_path_factory) -> tuple[Path, TrainConfig]:
    """A fused ConvMixer model with the mask channel, gated merge and compositing: the
    graph with the most moving parts."""
    from zoo.train import train

    config = TrainConfig(dataset="synthetic", epochs=1, train_limit=32, val_limit=8,
                         test_limit=8, encoder="convmixer",
                         encoder_args={"width": 16, "depth": 1},
                         unet={"widths": [8, 16, 32], "mask_channel": True, "composite": True,
                               "fusion_merge": "gated"},
                         device="cpu", threads=1, mask="irregular")
    out = tmp_path_factory.mktemp("fused")
    return Path(train(config, out)["checkpoint"]), config


def _reference(ckpt: Path, batch: int, seed: int) -> tuple[torch.Tensor, ...]:
    from zoo.modelfolder.checkpoint import load_model

    model, config, _ = load_model(ckpt)
    masked, mask = example_inputs(config, batch, 32, seed=seed)
    with torch.no_grad():
        return masked, mask, model(masked, mask)


def test_onnx_matches_pytorch(fused, tmp_path) -> None:
    import onnxruntime as ort

    ckpt, config = fused
    result = export_checkpoint(ckpt, "onnx", tmp_path / "model.onnx")
    assert result.path == tmp_path / "model.onnx" and result.path.exists()
    assert 0 <= result.max_abs_diff < TOLERANCE
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["masked", "mask"]
    for batch in (1, 5):  # the batch axis is dynamic
        masked, mask, expected = _reference(ckpt, batch, seed=10 + batch)
        got = session.run(None, {"masked": masked.numpy(), "mask": mask.numpy()})[0]
        assert got.shape == (batch, 3, 32, 32)
        assert float((torch.from_numpy(got) - expected).abs().max()) < TOLERANCE
    card = result.card.read_text()
    assert result.card == tmp_path / "MODEL_CARD.md"
    for fact in ("## Input contract", "(B, 3, 32, 32)", "1 = hole", "`irregular`",
                 "`convmixer`", config.hash(), "| this model |", "| telea |", "synthetic"):
        assert fact in card, fact


def test_torchscript_matches_pytorch(fused, tmp_path) -> None:
    ckpt, _ = fused
    result = export_checkpoint(ckpt, "torchscript", tmp_path)
    assert result.path == tmp_path / "model.torchscript.pt"
    assert result.max_abs_diff < TOLERANCE
    with warnings.catch_warnings():  # torch deprecates jit.load; it still works
        warnings.simplefilter("ignore", FutureWarning)
        loaded = torch.jit.load(str(result.path))
    for batch in (1, 4):
        masked, mask, expected = _reference(ckpt, batch, seed=20 + batch)
        with torch.no_grad():
            got = loaded(masked, mask)
        assert float((got - expected).abs().max()) < TOLERANCE


def test_cli_export_and_errors(fused, tmp_path, capsys) -> None:
    ckpt, _ = fused
    assert main(["export", str(ckpt), "--format", "torchscript", "--out",
                 str(tmp_path / "m.pt"), "--json"]) == 0
    assert '"max_abs_diff"' in capsys.readouterr().out
    assert main(["export", str(ckpt), "--size", "30", "--out", str(tmp_path / "x.onnx")]) == 2
    assert "use --size 32" in " ".join(capsys.readouterr().err.split())
    assert not (tmp_path / "x.onnx").exists()
    with pytest.raises(ZooError, match="unknown export format 'tflite'"):
        export_checkpoint(ckpt, "tflite")


def test_a_wrong_export_is_refused_and_removed(fused, tmp_path, monkeypatch) -> None:
    import zoo.modelfolder.export

    real = zoo.modelfolder.export.run_exported
    monkeypatch.setattr(zoo.modelfolder.export, "run_exported",
                        lambda *a: real(*a) + 1e-3)  # as if the exporter got an op wrong
    with pytest.raises(ZooError, match="differs from PyTorch by 0.001"):
        export_checkpoint(fused[0], "torchscript", tmp_path / "bad.pt")
    assert list(tmp_path.iterdir()) == []

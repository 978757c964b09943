"""The training function and `zoo train` / `zoo eval`: real runs, small data."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from zoo.modelfolder.checkpoint import load_model, read_checkpoint
from zoo.cli import main
from zoo.config import TrainConfig, preset
from zoo.settings import build_config
from zoo.errors import ZooError
from zoo.train import TrainingDiverged, train

TINY = {"dataset": "synthetic", "train_limit": 64, "val_limit": 16, "test_limit": 16,
        "epochs": 2, "batch_size": 16, "unet": {"widths": [8, 16, 32]}, "threads": 1}


def tiny(**kw) -> TrainConfig:
    return build_config({**TINY, **kw})


def test_paper_preset_learns_on_real_cifar(cifar_dir: Path, tmp_path: Path) -> None:
    """The paper's model on a CIFAR-10 subset: the loss falls and the hole PSNR beats the
    mean-fill baseline's on the same frozen test masks."""
    config = build_config({**preset("paper"), "data_dir": str(cifar_dir),
                                    "train_limit": 2000, "val_limit": 200, "test_limit": 500,
                                    "epochs": 2, "batch_size": 16, "threads": 2})
    result = train(config, tmp_path / "run", baselines=("mean_fill",))
    losses = [r["train_loss"] for r in result["history"]]
    assert losses[-1] < losses[0]
    assert result["psnr_hole"] > result["baselines"]["mean_fill"]["psnr_hole"] + 0.5
    assert result["baselines"]["ceiling"]["dice"] > result["dice"]  # the ceiling is a ceiling


def test_interrupted_run_resumes_where_it_stopped(tmp_path: Path) -> None:
    config = tiny(epochs=3)

    def stop_after_first(record, ckpt):
        if record["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path, on_epoch=stop_after_first, final_eval=False)
    first = read_checkpoint(tmp_path)
    assert first["epoch"] == 1

    seen = []
    result = train(config, tmp_path, on_epoch=lambda r, c: seen.append(r["epoch"]))
    assert seen == [2, 3]  # epoch 1 was not redone
    assert [r["epoch"] for r in result["history"]] == [1, 2, 3]
    assert result["history"][0] == first["history"][0]


def _stop_after_first(record, ckpt):
    if record["epoch"] == 1:
        raise KeyboardInterrupt


def test_resumed_run_with_dropout_ends_bit_for_bit_where_an_uninterrupted_one_does(
        tmp_path: Path) -> None:
    """Dropout (the paper's 0.5) draws from torch's generator: its state is resume state,
    so 1 epoch + resume + 2 epochs give the very weights and metrics of 3 epochs."""
    config = tiny(epochs=3, train_limit=32, unet={"widths": [8, 16, 32], "dropout": 0.5})
    whole = train(config, tmp_path / "whole", final_eval=False)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "split", on_epoch=_stop_after_first, final_eval=False)
    torch.manual_seed(12345)  # whatever ran in between must not matter
    torch.rand(100)
    resumed = train(config, tmp_path / "split", final_eval=False)
    a, b = read_checkpoint(tmp_path / "whole"), read_checkpoint(tmp_path / "split")
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    drop = ("epoch_time_s", "train_images_per_s")  # losses and validation metrics: exact
    assert [{k: v for k, v in r.items() if k not in drop} for r in resumed["history"]] == \
        [{k: v for k, v in r.items() if k not in drop} for r in whole["history"]]
    assert a["rng"]["torch"].dtype == torch.uint8  # plain tensors: loads with weights_only


def _damage_state(folder: Path, **changes) -> None:
    from zoo.modelfolder.checkpoint import STATE_NAME

    data = torch.load(folder / STATE_NAME, weights_only=True)
    data["state"].update(changes)
    torch.save(data, folder / STATE_NAME)


@pytest.mark.parametrize("changes, message", [
    ({"epoch": -5}, "epoch is -5, not one of 1..3"),
    ({"epoch": 7}, "epoch is 7, not one of 1..3"),
    ({"epoch": "1"}, "epoch is '1'"),
    ({"optimizer": {"state": {}, "param_groups": []}}, "resume state is damaged"),
    ({"rng": {"torch": torch.zeros(3, dtype=torch.uint8)}}, "resume state is damaged"),
])
def test_malformed_resume_state_is_refused_in_one_line(tmp_path: Path, changes, message,
                                                       capsys) -> None:
    config = tiny(epochs=3, train_limit=32)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path, on_epoch=_stop_after_first, final_eval=False)
    _damage_state(tmp_path, **changes)
    seen = []
    with pytest.raises(ZooError, match=message) as err:
        train(config, tmp_path, on_epoch=lambda r, c: seen.append(r), final_eval=False)
    assert "\n" not in str(err.value) and "another --out" in str(err.value)
    assert seen == []  # refused before any epoch ran


def test_other_config_in_same_folder_is_refused_and_kept(tmp_path: Path) -> None:
    train(tiny(epochs=1), tmp_path, final_eval=False)
    before = (tmp_path / "model.safetensors").read_bytes()
    with pytest.raises(ZooError, match="different config"):
        train(tiny(epochs=1, lr=0.01), tmp_path)
    assert (tmp_path / "model.safetensors").read_bytes() == before


def test_checkpoint_alone_rebuilds_its_model(tmp_path: Path) -> None:
    config = tiny(encoder="convmixer", encoder_args={"width": 16},
                  unet={"widths": [8, 16, 32], "fusion_merge": "gated"})
    result = train(config, tmp_path)
    model, saved, payload = load_model(result["checkpoint"])
    assert saved == config
    assert payload["metrics"]["psnr_hole"] == pytest.approx(result["psnr_hole"])
    x = torch.rand(2, 3, 32, 32)
    m = torch.zeros(2, 1, 32, 32)
    m[:, :, 8:16, 8:16] = 1
    assert model(x * (1 - m), m).shape == (2, 3, 32, 32)


def test_nan_loss_stops_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zoo.losses import WeightedLoss

    real = WeightedLoss.forward
    monkeypatch.setattr(WeightedLoss, "forward", lambda self, out, x, m: (
        (out * float("nan")).mean(), real(self, out, x, m)[1]))
    with pytest.raises(TrainingDiverged, match="lower the learning rate"):
        train(tiny(epochs=1), tmp_path)


def test_cli_train_json_then_eval(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    args = ["train", "--encoder", "convmixer", "--epochs", "1", "--train-limit", "64",
            "--set", "dataset=synthetic", "--set", "unet.widths=[8,16,32]",
            "--set", "encoder_args.width=16", "--set", "val_limit=16", "--test-limit", "16",
            "--out", str(out), "--json"]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("dice", "psnr_hole", "ssim_hole", "l1_hole", "checkpoint", "train_images_per_s"):
        assert key in result
    assert Path(result["checkpoint"]).exists()

    assert main(["eval", result["checkpoint"], "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert scored["psnr_hole"] == pytest.approx(result["psnr_hole"], abs=1e-4)
    assert {"mean_fill", "telea", "ceiling"} <= set(scored["baselines"])


@pytest.mark.parametrize("args, message", [
    (["train", "--encoder", "convmixr"], "did you mean 'convmixer'"),
    (["train", "--set", "unet.dpth=3"], "did you mean 'depth'"),
    (["train", "--mask", "squar"], "did you mean 'square'"),
    (["train", "--data", "/nonexistent/cifar"], "ZOO_DATA_DIR"),
    (["train", "--set", "dataset=synthetic", "--set", "unet.depth=6",
      "--set", "unet.widths=[4,4,4,4,4,4,4]", "--epochs", "1"], "does not fit depth 6"),
    (["eval"], "MODEL or --baseline"),
    (["eval", "--baseline", "teela"], "did you mean 'telea'"),
])
def test_bad_input_gets_a_clear_error(args, message, capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    assert message in capsys.readouterr().err.replace("\n", " ")


def test_corrupt_or_foreign_checkpoint_is_refused(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert main(["eval", str(bad)]) == 2
    assert "zoo convert" in capsys.readouterr().err  # old .pt files are never unpickled
    assert main(["convert", str(bad), str(tmp_path / "out")]) == 2
    assert "not a torch file" in capsys.readouterr().err
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(1)}, foreign)
    assert main(["convert", str(foreign), str(tmp_path / "out")]) == 2
    assert "not a zoo checkpoint" in capsys.readouterr().err
    assert bad.read_bytes() == b"not a checkpoint"  # nothing destroyed


def test_cpu_amp_trains_in_bf16_only_where_the_cpu_has_it(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """``cpu_amp``: on a CPU without native bf16 the run is float32, the same weights as
    without the option; on one with it, the run says bf16 and learns (finite, other weights)."""
    import zoo.device

    plain = train(tiny(), tmp_path / "fp32", final_eval=False)
    assert plain["precision"] == "fp32"
    with monkeypatch.context() as m:
        m.setattr(zoo.device, "cpu_has_bf16", lambda: False)
        fallback = train(tiny(cpu_amp=True), tmp_path / "fallback", final_eval=False)
    assert fallback["precision"] == "fp32"
    weights = [load_model(tmp_path / d)[0].state_dict()
               for d in ("fp32", "fallback")]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    if not zoo.device.cpu_has_bf16():
        pytest.skip("this CPU has no native bf16 (AVX512-BF16 or AMX): only the fallback ran")
    bf16 = train(tiny(cpu_amp=True), tmp_path / "bf16", final_eval=False)
    assert bf16["precision"] == "bf16"
    assert all(math.isfinite(r["train_loss"]) for r in bf16["history"])
    trained = load_model(tmp_path / "bf16")[0].state_dict()
    assert any(not torch.equal(trained[k], weights[0][k]) for k in trained
               if trained[k].is_floating_point())


def test_hflip_mirrors_about_half_the_training_images_and_resumes_bit_for_bit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``augment: hflip``: every image the loss sees is a training image or its mirror,
    both occur, the draws are seeded (1 epoch + resume + 1 equals 2 epochs) and the run
    differs from one without it."""
    from zoo.data import load_dataset
    from zoo.train import _TrainState

    config = tiny(augment="hflip", train_limit=32)
    seen: list[torch.Tensor] = []
    step = _TrainState.step
    monkeypatch.setattr(_TrainState, "step",
                        lambda self, out, x, m: (seen.append(x.clone()), step(self, out, x, m))[1])
    whole = train(config, tmp_path / "whole", final_eval=False)
    images = load_dataset(config).train.float() / 255
    kinds = []
    for x in torch.cat(seen):
        plain = (images - x).abs().flatten(1).amax(1).min() < 1e-6
        mirror = (images.flip(-1) - x).abs().flatten(1).amax(1).min() < 1e-6
        assert plain or mirror
        kinds.append(bool(mirror and not plain))
    assert 0.25 < sum(kinds) / len(kinds) < 0.75
    monkeypatch.undo()
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "split", on_epoch=_stop_after_first, final_eval=False)
    train(config, tmp_path / "split", final_eval=False)
    plain = train(tiny(train_limit=32), tmp_path / "plain", final_eval=False)
    a, b, c = (read_checkpoint(tmp_path / d)["model"] for d in ("whole", "split", "plain"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())
    assert plain["history"][-1]["train_loss"] != whole["history"][-1]["train_loss"]


def test_mask_repeats_shows_each_image_again_under_a_new_mask_and_resumes_bit_for_bit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``mask_repeats: 2``: every step the loss sees each of its images twice, each time
    under a different mask, with the same number of steps; 1.5 gives 1.5x the samples; the
    draws are seeded (1 epoch + resume + 1 equals 2 epochs); 2.0 and 2 are one config; and
    a bad value is refused with the valid range."""
    from zoo.train import _TrainState, repeat_batch

    assert repeat_batch(torch.arange(4), 1.5).tolist() == [0, 1, 2, 3, 0, 1]
    assert repeat_batch(torch.arange(3), 1).tolist() == [0, 1, 2]
    config = tiny(mask_repeats=2, train_limit=32, batch_size=8, mask="irregular")
    assert config.hash() == tiny(mask_repeats=2.0, train_limit=32, batch_size=8,
                                 mask="irregular").hash()
    assert tiny(mask_repeats=1).hash() == tiny().hash()  # the default is out of the hash
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    step = _TrainState.step
    monkeypatch.setattr(_TrainState, "step", lambda self, out, x, m: (
        seen.append((x.clone(), m.clone())), step(self, out, x, m))[1])
    whole = train(config, tmp_path / "whole", final_eval=False)
    assert len(seen) == 2 * 32 // 8  # the steps are as many as without repeats
    for x, m in seen:
        assert len(x) == 16
        assert torch.equal(x[:8], x[8:])  # the same images ...
        assert all(not torch.equal(m[i], m[i + 8]) for i in range(8))  # ... other holes
    monkeypatch.undo()
    seen.clear()
    monkeypatch.setattr(_TrainState, "step", lambda self, out, x, m: (
        seen.append((x.clone(), m.clone())), step(self, out, x, m))[1])
    train(tiny(mask_repeats=1.5, train_limit=32, batch_size=8, epochs=1), tmp_path / "half",
          final_eval=False)
    assert [len(x) for x, _ in seen] == [12] * 4
    monkeypatch.undo()
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "split", on_epoch=_stop_after_first, final_eval=False)
    train(config, tmp_path / "split", final_eval=False)
    a, b = (read_checkpoint(tmp_path / d)["model"] for d in ("whole", "split"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert math.isfinite(whole["history"][-1]["train_loss"])
    for bad in (0.5, 17, "two"):
        with pytest.raises(ZooError, match=r"mask_repeats"):
            tiny(mask_repeats=bad)

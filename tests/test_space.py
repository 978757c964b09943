"""Search spaces: every shipped YAML validates, and bad ones fail before any trial starts,
with the file, line and key in the message."""

from __future__ import annotations

from pathlib import Path

import pytest

from zoo.errors import ZooError
from zoo.tune.space import load_space

SPACES = sorted((Path(__file__).resolve().parents[1] / "search_spaces").glob("*.yaml"))


@pytest.mark.parametrize("path", SPACES, ids=lambda p: p.stem)
def test_shipped_spaces_validate_and_sample(path: Path) -> None:
    spec = load_space(path)
    space = spec.param_space()
    assert set(spec.space) <= set(space)
    flat = {}
    for key, domain in space.items():  # one random point of the space, as Tune would draw
        if isinstance(domain, dict) and "grid_search" in domain:
            flat[key] = domain["grid_search"][0]
        elif hasattr(domain, "sample"):
            flat[key] = domain.sample()
        else:
            flat[key] = domain
    config = spec.trial_config(flat)
    assert config.epochs == spec.max_epochs
    assert spec.n_trials() >= 1


def test_paper_space_is_the_papers_table() -> None:
    spec = load_space(SPACES[0].parent / "paper.yaml")
    assert spec.n_trials() == 6  # 2 models x 3 seeds
    trials = spec.plan()["trials"]
    assert sorted((t["encoder"], t["seed"]) for t in trials) == [
        (e, s) for e in ("convmixer", "none") for s in (0, 1, 2)]
    for t in trials:
        assert (t["loss"], t["optimizer"], t["lr"], t["epochs"], t["mask"]) == (
            "mse", "adam", 1e-3, 5, "paper")
        assert t["unet"]["widths"] == [64, 128, 256] and t["encoder_args"] == {}


def test_encoder_args_apply_only_to_encoders_that_have_them(tmp_path: Path) -> None:
    spec = write(tmp_path, """
space:
  encoder: {grid: [none, convmixer]}
  encoder_args.width: {choice: [16, 32]}
""")
    assert spec.trial_config({"encoder": "none", "encoder_args.width": 16}).encoder_args == {}
    assert spec.trial_config({"encoder": "convmixer", "encoder_args.width": 16}
                             ).encoder_args == {"width": 16}
    assert spec.n_trials() == 2


def test_overrides_from_cli_flags(tmp_path: Path) -> None:
    spec = load_space(SPACES[0].parent / "smoke.yaml",
                      overrides={"num_samples": 3, "resources": {"gpu": 0.5},
                                 "base": {"train_limit": 100}, "name": "x"})
    assert (spec.name, spec.num_samples, spec.resources) == ("x", 3, {"cpu": 1.0, "gpu": 0.5})
    assert spec.trial_config({"encoder": "none"}).train_limit == 100


def write(tmp_path: Path, body: str) -> object:
    path = tmp_path / "space.yaml"
    path.write_text("name: t\nbase:\n  dataset: synthetic\n" + body)
    return load_space(path)


@pytest.mark.parametrize("body, line, expected", [
    ("metrc: val_psnr_hole\n", 4, "did you mean 'metric'"),
    ("metric: psnr_hole\n", 4, "never tune on test"),
    ("space:\n  lr: {loguniform: [0, 0.1]}\n", 5, "0 < low"),
    ("space:\n  lr: {uniform: [0.1, 0.01]}\n", 5, "low < high"),
    ("space:\n  lr: {quniform: [0.1, 0.2, 0]}\n", 5, "q > 0"),
    ("space:\n  lr: {choise: [0.1]}\n", 5, "did you mean 'choice'"),
    ("space:\n  encoder: {choice: [none, convmixr]}\n", 5, "did you mean 'convmixer'"),
    ("space:\n  unet.dpth: {choice: [2, 3]}\n", 5, "did you mean 'depth'"),
    ("space:\n  encoder_args.widht: {choice: [16]}\n", 5, "no encoder in this search"),
    ("space:\n  unet.norm: {grid: [batch, layer]}\n", 5, "unknown unet.norm 'layer'"),
    ("scheduler: {type: hyperband}\n", 4, "valid: asha, fifo"),
    ("resources: {cpu: 0}\n", 4, "must be a number > 0"),
    ("seeds: []\n", 4, "non-empty list"),
])
def test_bad_space_names_the_yaml_location(tmp_path: Path, body: str, line: int,
                                           expected: str) -> None:
    with pytest.raises(ZooError) as info:
        write(tmp_path, body)
    message = str(info.value)
    assert f"space.yaml:{line}:" in message
    assert expected in message


def test_missing_file_lists_the_shipped_spaces() -> None:
    with pytest.raises(ZooError, match="did you mean 'quick.yaml'"):
        load_space(SPACES[0].parent / "quik.yaml")

"""Search spaces: every shipped YAML validates and becomes the Tune objects we expect, and
bad ones fail before any trial starts, with the file, line and key in the message.
No Ray cluster is started: Tune's domains and variant generator are plain Python."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import pytest

from zoo.cli._plan import render_plan
from zoo.config import TrainConfig
from zoo.errors import ZooError
from zoo.metrics import KEYS
from zoo.tune.space import METRICS, SearchSpec, load_space

ROOT = Path(__file__).resolve().parents[1] / "search_spaces"
SPACES = sorted(ROOT.glob("*.yaml"))


def sample_point(space: dict) -> dict:
    """One point of a param space, drawn the way Tune draws it (first grid value)."""
    flat = {}
    for key, domain in space.items():
        if isinstance(domain, dict) and "grid_search" in domain:
            flat[key] = domain["grid_search"][0]
        elif hasattr(domain, "sample"):
            flat[key] = domain.sample()
        else:
            flat[key] = domain
    return flat


def write(tmp_path: Path, body: str, header: str = "name: t\nbase:\n  dataset: synthetic\n",
          **overrides) -> SearchSpec:
    path = tmp_path / "space.yaml"
    path.write_text(header + body)
    return load_space(path, overrides=overrides or None)


@pytest.mark.parametrize("path", SPACES, ids=lambda p: p.stem)
def test_shipped_spaces_validate_and_sample(path: Path) -> None:
    spec = load_space(path)
    space = spec.param_space()
    assert set(spec.space) | set(spec.base) | {"seed"} == set(space)
    for _ in range(3):
        flat = sample_point(space)
        config = spec.trial_config(flat)
        assert isinstance(config, TrainConfig)
        assert config.epochs == spec.max_epochs
        for key, value in flat.items():  # sampled values reach the config
            if key.startswith("encoder_args.") and key.split(".")[1] not in config.encoder_args:
                continue  # dropped for an encoder without that option
            got = config.to_dict()
            for part in key.split("."):
                got = got[part]
            assert got == (list(value) if isinstance(value, tuple) else value), key
    assert spec.n_trials() >= 1
    assert spec.metric in METRICS and spec.metric.startswith("val_")


def test_shipped_space_names_match_their_files() -> None:
    assert {load_space(p).name for p in SPACES} == {p.stem for p in SPACES}
    assert {"paper", "quick", "smoke", "convmixer", "timm"} <= {p.stem for p in SPACES}


def test_metrics_are_what_training_reports() -> None:
    assert {m[len("val_"):] for m in METRICS if m.startswith("val_")} <= set(KEYS)


def test_param_space_domain_types() -> None:
    from ray.tune.search.sample import Categorical, Float, Integer

    quick = load_space(ROOT / "quick.yaml").param_space()
    assert quick["encoder"] == {"grid_search": ["none", "convmixer"]}
    assert quick["seed"] == {"grid_search": [0, 1]} and quick["train_limit"] == 3500
    sampled = load_space(ROOT / "convmixer.yaml").param_space()
    assert isinstance(sampled["unet.fusion_merge"], Categorical)
    assert sampled["unet.fusion_merge"].categories == ["add", "concat", "gated"]
    assert isinstance(sampled["lr"], Float)
    assert type(sampled["lr"].get_sampler()).__name__ == "_LogUniform"
    assert (sampled["lr"].lower, sampled["lr"].upper) == (3e-4, 3e-3)
    assert load_space(ROOT / "paper.yaml").param_space()["seed"] == {"grid_search": [0, 1, 2]}
    depth = load_space(ROOT / "convmixer.yaml").param_space()["encoder_args.depth"]
    assert isinstance(depth, Integer)


def test_integer_ranges_include_both_bounds(tmp_path: Path) -> None:
    spec = write(tmp_path, """
space:
  unet.decoder_convs: {randint: [0, 2]}
  unet.convs_per_level: {qrandint: [1, 3, 1]}
  batch_size: {qrandint: [16, 64, 16]}
""")
    space = spec.param_space()
    seen = {k: {space[k].sample() for _ in range(300)} for k in spec.space}
    assert seen == {"unet.decoder_convs": {0, 1, 2}, "unet.convs_per_level": {1, 2, 3},
                    "batch_size": {16, 32, 48, 64}}


def test_plan_matches_tunes_own_expansion(tmp_path: Path) -> None:
    from ray.tune.search.variant_generator import generate_variants

    spec = write(tmp_path, """
num_samples: 2
seeds: [3, 4]
space:
  unet.fusion_merge: {grid: [add, concat, gated]}
  encoder: {grid: [none, convmixer]}
  unet.widths: {grid: [[8, 16, 32], [16, 32, 64]]}
""")
    assert spec.n_trials() == 2 * 3 * 2 * 2 * 2
    tune_points = [cfg for _ in range(spec.num_samples)  # BasicVariantGenerator repeats
                   for _, cfg in generate_variants(spec.param_space())]
    keys = [*spec.space, "seed"]
    assert [{k: p[k] for k in keys} for p in tune_points] == spec.points()
    plan = spec.plan()
    assert plan["n_trials"] == len(plan["trials"]) == len(plan["points"]) == 48
    first = plan["trials"][0]
    assert (first["unet"]["fusion_merge"], first["encoder"], first["unet"]["widths"],
            first["seed"]) == ("add", "none", [8, 16, 32], 3)
    assert all(t["epochs"] == spec.max_epochs and t["dataset"] == "synthetic"
               for t in plan["trials"])


def test_n_trials_and_grid_search(tmp_path: Path) -> None:
    spec = write(tmp_path, """
num_samples: 3
seeds: [0, 1]
space:
  encoder: {grid: [none, convmixer]}
  lr: {loguniform: [1.0e-4, 1.0e-2]}
  unet.fusion_merge: {choice: [add, gated]}
""")
    assert spec.n_trials() == 3 * 2 * 2 and not spec.finite()
    assert "trials" not in spec.plan()
    grid = write(tmp_path, """
search: {type: grid}
space:
  unet.fusion_merge: {choice: [add, concat, gated]}
  unet.decoder_convs: {randint: [0, 3]}
  batch_size: {qrandint: [32, 64, 32]}
""")
    assert grid.finite() and grid.n_trials() == 3 * 4 * 2
    assert grid.param_space()["unet.decoder_convs"] == {"grid_search": [0, 1, 2, 3]}
    # random and grid searches are Tune's BasicVariantGenerator, seeded (search.seed, 0)
    assert type(grid.search_alg()).__name__ == "BasicVariantGenerator"
    assert {p["batch_size"] for p in grid.points()} == {32, 64}


def test_schedulers() -> None:
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    asha = load_space(ROOT / "convmixer.yaml").scheduler_obj()
    assert isinstance(asha, ASHAScheduler)
    assert (asha._max_t, asha._time_attr, asha._reduction_factor) == (5, "training_iteration", 2)
    assert [milestone for milestone, _ in asha._brackets[0]._rungs] == [4, 2, 1]  # grace 1
    assert asha._metric is None  # the runner passes metric/mode to TuneConfig, once
    assert isinstance(load_space(ROOT / "paper.yaml").scheduler_obj(), FIFOScheduler)
    assert isinstance(load_space(ROOT / "quick.yaml").scheduler_obj(), FIFOScheduler)


def test_paper_space_is_the_papers_table() -> None:
    spec = load_space(ROOT / "paper.yaml")
    assert spec.n_trials() == 6  # 2 models x 3 seeds
    assert spec.scheduler["type"] == "fifo" and spec.resources == {"cpu": 1.0, "gpu": 0.25}
    trials = spec.plan()["trials"]
    assert sorted((t["encoder"], t["seed"]) for t in trials) == [
        (e, s) for e in ("convmixer", "none") for s in (0, 1, 2)]
    for t in trials:
        assert (t["loss"], t["optimizer"], t["lr"], t["epochs"], t["mask"], t["batch_size"],
                t["train_limit"]) == ("mse", "adam", 1e-3, 5, "paper", 64, None)
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


def test_coupled_unet_choice_and_list_values(tmp_path: Path) -> None:
    spec = write(tmp_path, """
space:
  unet: {choice: [{depth: 2, widths: [8, 16, 32]}, {depth: 3, widths: [8, 16, 32, 64]}]}
  unet.fusion_merge: {choice: [add, gated]}
""", header="name: t\nbase:\n  dataset: synthetic\n  unet: {widths: [4, 8, 16], norm: group}\n")
    seen = set()
    space = spec.param_space()
    for _ in range(40):
        config = spec.trial_config(sample_point(space))
        assert config.unet.norm == "group"  # base options survive the mapping
        seen.add((config.unet.depth, config.unet.widths, config.unet.fusion_merge))
    assert {(d, w) for d, w, _ in seen} == {(2, (8, 16, 32)), (3, (8, 16, 32, 64))}
    widths = write(tmp_path, "space:\n  unet.widths: {choice: [[8, 16, 32], [16, 32, 64]]}\n")
    assert widths.trial_config({"unet.widths": [16, 32, 64]}).unet.widths == (16, 32, 64)


def test_overrides_from_cli_flags(tmp_path: Path) -> None:
    spec = load_space(ROOT / "smoke.yaml",
                      overrides={"num_samples": 3, "resources": {"gpu": 0.5},
                                 "base": {"train_limit": 100}, "name": "x"})
    assert (spec.name, spec.num_samples, spec.resources) == ("x", 3, {"cpu": 1.0, "gpu": 0.5})
    assert spec.trial_config({"encoder": "none"}).train_limit == 100
    pinned = load_space(ROOT / "quick.yaml", overrides={"base": {"lr": 0.01}})
    assert "lr" not in pinned.space and pinned.trial_config({}).lr == 0.01
    with pytest.raises(ZooError, match=r"quick.yaml: base.lr \(set on the command line\)"):
        load_space(ROOT / "quick.yaml", overrides={"base": {"lr": "fast"}})


def test_yaml_exponent_without_dot_is_a_number(tmp_path: Path) -> None:
    spec = write(tmp_path, "space:\n  lr: {loguniform: [1e-4, 1e-2]}\n")
    assert spec.space["lr"] == ("loguniform", [1e-4, 1e-2])


@pytest.mark.parametrize("body, line, expected", [
    ("metrc: val_psnr_hole\n", 4, "did you mean 'metric'"),
    ("metric: psnr_hole\n", 4, "never tune on test"),
    ("space:\n  lr: {loguniform: [0, 0.1]}\n", 5, "space.lr.loguniform: needs 0 < low"),
    ("space:\n  lr: {uniform: [0.1, 0.01]}\n", 5, "space.lr.uniform: needs low < high"),
    ("space:\n  lr: {quniform: [0.1, 0.2, 0]}\n", 5, "q > 0"),
    ("space:\n  batch_size: {qrandint: [10, 64, 16]}\n", 5, "multiples of q=16"),
    ("space:\n  lr: {choise: [0.1]}\n", 5, "did you mean 'choice'"),
    ("space:\n  lr: {choice: []}\n", 5, "non-empty list"),
    ("space:\n  encoder: {choice: [none, convmixr]}\n", 5,
     "space.encoder.choice.1: unknown encoder 'convmixr'; did you mean 'convmixer'?"),
    ("space:\n  encoder:\n    grid:\n      - none\n      - convmixr\n", 8, "unknown encoder"),
    ("space:\n  mask: {choice: [paper, sqare]}\n", 5, "did you mean 'square'"),
    ("space:\n  unet.dpth: {choice: [2, 3]}\n", 5, "did you mean 'depth'"),
    ("space:\n  unet.depth: {choice: [2, 3]}\n", 5, "choose whole unet mappings"),
    ("space:\n  unet.decoder_convs: {uniform: [0, 2]}\n", 5, "use randint or qrandint"),
    ("space:\n  encoder_args.widht: {choice: [16]}\n", 5,
     "no encoder this search can pick has option 'widht'"),
    ("space:\n  encoder: {grid: [none, convmixer]}\n  encoder_args.widht: {choice: [16]}\n", 6,
     "did you mean 'width'? encoder_args by encoder: none: (no options); "
     "convmixer: depth, kernel, patch, width"),
    ("space:\n  encoder: {grid: [convmixer]}\n  encoder_args.width: {choice: [0]}\n", 6,
     "space.encoder_args.width.choice.0: encoder_args.width must be >= 1"),
    ("space:\n  unet.norm: {grid: [batch, layer]}\n", 5, "unknown unet.norm 'layer'"),
    ("space:\n  lr: {choice: [0.1]}\n  lr: {choice: [0.2]}\n", 6, "appears twice (lines 5 and 6)"),
    ("search: grid\nspace:\n  lr: {loguniform: [0.001, 0.1]}\n", 6, "loguniform is continuous"),
    ("scheduler: {type: hyperband}\n", 4, "valid: asha, fifo"),
    ("scheduler: {type: asha, grace_perod: 1}\n", 4, "did you mean 'grace_period'"),
    ("max_epochs: 2\nscheduler: {type: asha, grace_period: 3}\n", 5, "1..max_epochs (2)"),
    ("resources: {cpu: 0}\n", 4, "must be a number > 0"),
    ("resources: {gpu: 1.5}\n", 4, "whole number"),
    ("seeds: []\n", 4, "non-empty list"),
])
def test_bad_space_names_the_yaml_location(tmp_path: Path, body: str, line: int,
                                           expected: str) -> None:
    with pytest.raises(ZooError) as info:
        write(tmp_path, body)
    message = str(info.value)
    assert f"space.yaml:{line}:" in message
    assert expected in message


@pytest.mark.parametrize("header, line, expected", [
    ("base:\n  encoder: convmixr\n", 3, "base.encoder: unknown encoder 'convmixr'; did you mean"),
    ("base:\n  dataset: synthetic\n  unet:\n    dpth: 3\n", 5, "base.unet.dpth: unknown option"),
    ("base:\n  dataset: synthetic\n  lr: fast\n", 4, "base.lr: 'lr' must be float"),
    ("base:\n  dataset: synthetic\n  epochs: 3\n", 4, "set max_epochs instead"),
    ("base:\n  dataset: synthetic\n  encoder_args: {depth: 2}\n", 4,
     "no encoder this search can pick has option 'depth'"),
    ("base:\n  lr: 0.1\nspace:\n  lr: {choice: [0.1]}\n", 5, "also fixed in base"),
])
def test_bad_base_names_the_yaml_location(tmp_path: Path, header: str, line: int,
                                          expected: str) -> None:
    with pytest.raises(ZooError) as info:
        write(tmp_path, "", header="name: t\n" + header)
    assert f"space.yaml:{line}:" in str(info.value)
    assert expected in str(info.value)


@pytest.mark.skipif(importlib.util.find_spec("optuna") is not None, reason="optuna installed")
def test_optuna_missing_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(ZooError, match="pip install optuna"):
        write(tmp_path, "search: {type: optuna}\nspace:\n  lr: {loguniform: [0.001, 0.1]}\n")


def test_missing_file_lists_the_shipped_spaces() -> None:
    with pytest.raises(ZooError, match="did you mean 'quick.yaml'"):
        load_space(ROOT / "quik.yaml")


def test_render_plan_shows_settings_and_trials() -> None:
    from rich.console import Console

    console = Console(file=io.StringIO(), width=160, record=True)
    console.print(render_plan(load_space(ROOT / "paper.yaml")))
    text = console.export_text()
    assert "search 'paper'" in text and "fifo" in text
    assert "the 6 trials" in text and "convmixer" in text
    console = Console(file=io.StringIO(), width=160, record=True)
    console.print(render_plan(load_space(ROOT / "convmixer.yaml")))
    assert "values drawn when the search runs" in console.export_text()


def test_options_that_constrain_each_other_are_checked_in_pairs(tmp_path: Path) -> None:
    with pytest.raises(ZooError) as info:
        write(tmp_path, """
space:
  unet: {choice: [{depth: 2, widths: [8, 16, 32]}, {depth: 3, widths: [8, 16, 32, 64]}]}
  unet.widths: {choice: [[8, 16, 32], [16, 32, 64]]}
""")
    assert "space.yaml:7: space.unet.widths.choice.0: with unet = {'depth': 3" in str(info.value)
    assert "unet.widths needs depth + 1 = 4 entries" in str(info.value)


def test_documented_example_is_a_valid_space(tmp_path: Path) -> None:
    doc = (ROOT.parent / "docs" / "searching.md").read_text()
    example = doc.split("### Schema")[1].split("```yaml\n")[1].split("```")[0]
    path = tmp_path / "example.yaml"
    path.write_text(example)
    spec = load_space(path)
    assert (spec.name, spec.n_trials()) == ("quick", 3 * 2 * 3)
    assert spec.trial_config(sample_point(spec.param_space())).epochs == 3


def test_plan_is_json_data() -> None:
    import json

    for path in SPACES:
        plan = load_space(path).plan()
        assert json.loads(json.dumps(plan)) == plan
        assert plan["n_trials"] == load_space(path).n_trials()


def test_search_name_must_be_a_folder_name(tmp_path: Path) -> None:
    with pytest.raises(ZooError, match=r"space.yaml:1: name: must be letters"):
        write(tmp_path, "", header="name: a/b\n")


def test_dry_run_shows_values_as_written_and_never_imports_ray(tmp_path: Path) -> None:
    import subprocess
    import sys

    space = tmp_path / "s.yaml"
    space.write_text("base: {ema: 0.9995, train_limit: 8}\nspace:\n"
                     "  lr: {grid: [0.001, 0.0010004]}\n")
    code = ("import sys\nfrom zoo.cli import main\n"
            f"rc = main(['tune', {str(space)!r}, '--dry-run'])\n"
            "assert rc == 0, rc\nassert 'ray' not in sys.modules, 'the dry run imported ray'\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "0.9995" in out.stdout and "0.0010004" in out.stdout

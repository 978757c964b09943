"""The documentation: the site builds with `mkdocs build --strict`, every Python example of
the README and of docs/ runs (sybil), and every shell example either runs in a test or says
visibly why it cannot ("# not run in tests: ...")."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from zoo.cli import main

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NOT_RUN = "# not run in tests:"
# Shell blocks run by a test, by (page, first command); every other block carries NOT_RUN.
RUN = {
    ("docs/index.md", "zoo leaderboard --group"): "test_quickstart_tour_runs",
    ("docs/leaderboard.md", "zoo leaderboard"): "test_readme_examples.py::test_leaderboard_examples_run",
    ("docs/searching.md", "zoo tune search_spaces/quick.yaml --dry-run"):
        "test_readme_examples.py::test_tune_dry_run_examples_run",
}


def shell_blocks(page: Path) -> list[list[str]]:
    """The ```bash blocks of a page, as lines (comments kept)."""
    return [m.group(1).splitlines()
            for m in re.finditer(r"```bash\n(.*?)```", page.read_text(), re.S)]


def commands(block: list[str]) -> list[str]:
    """A block's commands: comment-only lines dropped, trailing `  # ...` comments cut."""
    out = []
    for line in block:
        command = re.split(r"\s+#\s", line, maxsplit=1)[0].strip()
        if command and not command.startswith("#"):
            out.append(command)
    return out


def _first_command(block: list[str]) -> str:
    return next(iter(commands(block)), "")


def test_every_shell_example_runs_or_says_why_not() -> None:
    unmarked = []
    for page in PAGES:
        rel = page.relative_to(ROOT).as_posix()
        for block in shell_blocks(page):
            if any(line.startswith(NOT_RUN) and len(line) > len(NOT_RUN) + 3 for line in block):
                continue
            if block[0].startswith("# 1. set up") and rel == "README.md":
                continue  # the two commands: command 2 is .ci/run (test_readme_examples.py)
            if not any(rel == p and _first_command(block).startswith(c) for p, c in RUN):
                unmarked.append(f"{rel}: {_first_command(block)}")
    assert not unmarked, ("shell examples neither run by a test nor marked "
                          f"'{NOT_RUN} REASON': {unmarked}")


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    """A broken link, a missing page or anchor, a bad snippet or a docstring mkdocstrings
    cannot render fails the build."""
    pytest.importorskip("mkdocs", reason="the [docs] packages (pip install -e '.[test]')")
    out = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q",
                          "-d", str(tmp_path / "site")], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-4000:]
    cli = (tmp_path / "site" / "cli" / "index.html").read_text()
    assert "zoo leaderboard rebuild" in cli and "--dry-run" in cli  # the generated --help
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    assert "PluginContract" in api and "TrainConfig" in api
    bench = (tmp_path / "site" / "benchmarks" / "index.html").read_text()
    assert "BENCHMARKS" not in bench.split("<article", 1)[1][:200] or "img/s" in bench


# --- the Python examples (sybil) --------------------------------------------------------

def _tiny_model(folder: Path) -> Path:
    """An untrained tiny model folder: enough for zoo.load and inpaint to run."""
    from zoo.config import TrainConfig
    from zoo.model import build_model
    from zoo.modelfolder.checkpoint import save_checkpoint

    cfg = TrainConfig(dataset="synthetic", epochs=1, encoder="convmixer",
                      encoder_args={"width": 8, "depth": 1}, unet={"widths": [8, 16, 32]},
                      device="cpu", threads=1, mask="square")
    save_checkpoint(folder, {"config": cfg, "model": build_model(cfg).state_dict()})
    return folder


def _photo(path: Path) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)).save(path)


def _results(root: Path) -> Path:
    """./results with search 'quick': quick-1 a (tiny, untrained) completed model."""
    from zoo.config import TrainConfig
    from zoo.leaderboard import Leaderboard

    ckpt = _tiny_model(root / "results" / "quick" / "quick-1" / "checkpoint_000000")
    config = json.loads((ckpt / "config.json").read_text())
    lb = Leaderboard(root / "results" / "leaderboard.sqlite")
    lb.record_trial("quick", "quick-1", "completed",
                    {"epoch": 1, "final": True, "psnr_hole": 17.0, "trial_id": "ab_00000",
                     "eval_id": "synthetic/square/n64/s2024", "checkpoint": str(ckpt)},
                    TrainConfig(**config).to_dict())
    return root / "results"


def _setup(page: Path, tmp_path: Path, monkeypatch) -> None:
    """The files a page's examples name, in a fresh folder (repository pages: the root)."""
    if page.name in {"searching.md"}:
        monkeypatch.chdir(ROOT)
        return
    monkeypatch.chdir(tmp_path)
    _photo(tmp_path / "photo.jpg")
    if page.name == "index.md":
        _results(tmp_path)
    if page.name == "using.md":
        _tiny_model(tmp_path / "runs" / "convmixer-1a2b3c-s0")


def _python_pages() -> list[Path]:
    return [p for p in PAGES if re.search(r"^```python\n", p.read_text(), re.M)]


@pytest.mark.parametrize("page", _python_pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_python_examples_run(page: Path, tmp_path: Path, monkeypatch) -> None:
    """Every ```python block of the page runs, in order, in one namespace; a block after
    `<!-- skip: next -->` is run by the test the page names beside it."""
    pytest.importorskip("sybil", reason="sybil (pip install -e '.[test]')")
    from sybil import Sybil
    from sybil.parsers.markdown import PythonCodeBlockParser, SkipParser

    _setup(page, tmp_path, monkeypatch)
    document = Sybil(parsers=[PythonCodeBlockParser(), SkipParser()]).parse(page)
    examples = list(document)
    assert examples, page
    for example in examples:
        example.evaluate()


def test_quickstart_tour_runs(tmp_path: Path, monkeypatch, capsys) -> None:
    """The quickstart's first shell block (leaderboard, show) on a small ./results."""
    monkeypatch.chdir(tmp_path)
    _results(tmp_path)
    block = next(b for b in shell_blocks(ROOT / "docs" / "index.md")
                 if _first_command(b).startswith("zoo leaderboard"))
    ran = commands(block)
    assert any("show quick-1" in c for c in ran)
    for command in ran:
        code = main(shlex.split(command)[1:])
        out, err = capsys.readouterr()
        assert code == 0, (command, err)
        assert ("quick-1" in out) if "show" in command else ("1 config" in out), (command, out)

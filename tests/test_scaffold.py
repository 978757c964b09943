"""`zoo plugins new NAME`: the package it writes installs, registers, and passes the kit
and `zoo plugins --check` as it is, the way the README tells a plugin author to run them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from zoo._scaffold import write_plugin
from zoo.cli import main
from zoo.errors import ZooError


def test_new_writes_the_package(tmp_path: Path, capsys) -> None:
    assert main(["plugins", "new", "gated_conv", "--dir", str(tmp_path)]) == 0
    root = tmp_path / "zoo-gated-conv"
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == ["README.md", "pyproject.toml", "tests/test_contract.py",
                     "zoo_gated_conv/__init__.py"]
    pyproject = (root / "pyproject.toml").read_text()
    assert '[project.entry-points."zoo.plugins"]\ngated_conv = "zoo_gated_conv"' in pyproject
    assert 'plugin = "gated_conv"' in (root / "tests/test_contract.py").read_text()
    compile((root / "zoo_gated_conv/__init__.py").read_text(), "plugin", "exec")
    assert f"pip install -e '{root}[test]'" in capsys.readouterr().out


def test_new_refuses_bad_names_and_existing_folders(tmp_path: Path) -> None:
    with pytest.raises(ZooError, match="lowercase letters, digits and _"):
        write_plugin("My-Enc", tmp_path)
    write_plugin("myenc", tmp_path)
    with pytest.raises(ZooError, match="already exists"):
        write_plugin("myenc", tmp_path)


@pytest.mark.slow
def test_new_plugin_installs_and_passes_the_kit(tmp_path: Path) -> None:
    """`zoo plugins new myenc && pip install ./zoo-myenc && pytest` (in its folder).

    Installed into a folder of its own (--target, so not editable: an editable install
    needs a site dir for its .pth) that only the subprocesses see, never into this venv."""
    root = write_plugin("myenc", tmp_path)
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
           "--no-index", "--target", str(site), str(root)]
    subprocess.run(pip, check=True, capture_output=True, text=True)
    env = {**os.environ, "PYTHONPATH": str(site), "ZOO_STRICT_PLUGINS": "1"}
    kit = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                         cwd=root, env=env, capture_output=True, text=True)
    assert kit.returncode == 0, kit.stdout + kit.stderr
    # loads + defaults x3 (encoder, mask, loss) + small + the encoder's checkpoint round trip
    assert "6 passed" in kit.stdout
    check = subprocess.run([sys.executable, "-m", "zoo", "plugins", "--check", "myenc"],
                           cwd=tmp_path, env=env, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "3 of 3 passed the contract; exit 0" in check.stdout

    # and the kit fails when the plugin breaks: out_channels off by one (`python -m pytest`
    # puts the folder first on sys.path, so the source is what it imports, as if editable)
    module = root / "zoo_myenc" / "__init__.py"
    module.write_text(module.read_text().replace(
        "self.out_channels = config.widths[-1]", "self.out_channels = config.widths[-1] + 1"))
    kit = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                         cwd=root, env=env, capture_output=True, text=True)
    assert kit.returncode == 1
    assert "out_channels declares 65 but forward returned 64 channels" in kit.stdout

"""The built-in mask generators' own behaviour: the paper geometry, sizes, hole fractions,
and lookup by name. (The contract every mask keeps, built-in or not, runs through the kit:
tests/test_encoder_contract.py::TestEveryPlugin and tests/test_contract.py.)"""

from __future__ import annotations

import pytest
import torch

import zoo_plugins.masks as builtin
from zoo.errors import ZooError
from zoo.masks import frozen_masks, make_masks

GENERATORS = {
    "paper": (builtin.PaperMaskConfig, builtin.paper_masks),
    "square": (builtin.SquareMaskConfig, builtin.square_masks),
    "irregular": (builtin.IrregularMaskConfig, builtin.irregular_masks),
}


def _draw(kind: str, n: int, h: int = 32, w: int = 32, seed: int = 0, **args) -> torch.Tensor:
    config_cls, generate = GENERATORS[kind]
    return generate(config_cls(**args), n, h, w, torch.Generator().manual_seed(seed), "cpu")


@pytest.mark.parametrize("kind", list(GENERATORS))
@pytest.mark.parametrize("hw", [(32, 32), (48, 40)])
def test_shape_dtype_binary(kind: str, hw: tuple[int, int]) -> None:
    m = _draw(kind, 16, *hw)
    assert m.shape == (16, 1, *hw) and m.dtype == torch.float32
    assert set(m.unique().tolist()) <= {0.0, 1.0}
    assert (m.sum(dim=(1, 2, 3)) > 0).all(), "every mask has a hole"
    assert (m.mean(dim=(1, 2, 3)) < 0.6).all(), "every mask leaves context"


@pytest.mark.parametrize("kind", list(GENERATORS))
def test_deterministic_by_seed(kind: str) -> None:
    assert torch.equal(_draw(kind, 32, seed=5), _draw(kind, 32, seed=5))
    assert not torch.equal(_draw(kind, 32, seed=5), _draw(kind, 32, seed=6))


@pytest.mark.parametrize("kind", list(GENERATORS))
def test_no_generator_works(kind: str) -> None:
    config_cls, generate = GENERATORS[kind]
    assert generate(config_cls(), 4, 32, 32, None, "cpu").shape == (4, 1, 32, 32)


def test_paper_mask_geometry() -> None:
    n = 18_000
    m = _draw("paper", n)[:, 0]  # (n, 32, 32)
    assert (m.sum(dim=(1, 2)) == 121).all()
    rows = m.amax(dim=2)  # (n, 32): which rows the square covers
    cols = m.amax(dim=1)
    assert torch.equal(rows, cols), "the square sits on the diagonal"
    r = rows.argmax(dim=1)  # first covered row
    assert (rows.sum(dim=1) == 11).all()
    # a filled square: exactly rows r..r+10 x cols r..r+10
    idx = torch.arange(32)
    band = (idx >= r[:, None]) & (idx <= r[:, None] + 10)
    assert torch.equal(m.bool(), band[:, :, None] & band[:, None, :])
    counts = torch.bincount(r, minlength=32)
    assert counts[:2].sum() == 0 and counts[20:].sum() == 0
    assert (counts[2:20] > 0).all(), "every r in 2..19 occurs"
    # uniform: expected 1000 each, sd ~31; 850..1150 is ~5 sd
    assert counts[2:20].min() > 850 and counts[2:20].max() < 1150


def test_paper_mask_scales_with_size() -> None:
    m = _draw("paper", 64, 64, 64)[:, 0]
    assert (m.sum(dim=(1, 2)) == 22 * 22).all()
    assert torch.equal(m.amax(dim=2), m.amax(dim=1))
    first = m.amax(dim=2).argmax(dim=1)
    assert ((first % 2) == 0).all() and first.min() >= 4 and first.max() <= 38


def test_paper_config_rejects_a_square_that_does_not_fit() -> None:
    with pytest.raises(ZooError, match="high"):
        builtin.PaperMaskConfig(size=11, high=25)


def test_square_inside_and_sized() -> None:
    m = _draw("square", 500, 40, 36, min_frac=0.25, max_frac=0.5)[:, 0]
    rows, cols = m.amax(dim=2).sum(dim=1), m.amax(dim=1).sum(dim=1)
    assert torch.equal(rows, cols), "square"
    assert torch.equal(m.sum(dim=(1, 2)), rows * cols), "filled"
    assert rows.min() >= 9 and rows.max() <= 18  # 0.25..0.5 of the shorter side, 36
    assert len(rows.unique()) > 5


def test_irregular_hole_fraction_and_variety() -> None:
    m = _draw("irregular", 200, min_hole=0.1, max_hole=0.3)
    frac = m.mean(dim=(1, 2, 3))
    inside = ((frac >= 0.1) & (frac <= 0.3)).float().mean()
    assert inside > 0.95, f"only {inside:.2f} of masks met the hole bounds"
    assert len(frac.unique()) > 50, "masks vary"


def test_irregular_config_validation() -> None:
    with pytest.raises(ZooError, match="min_strokes"):
        builtin.IrregularMaskConfig(min_strokes=3, max_strokes=2)


def test_make_masks_by_name() -> None:
    g = torch.Generator().manual_seed(3)
    m = make_masks("square", {"min_frac": "0.5", "max_frac": 0.5}, 4, 32, 32, generator=g)
    assert m.shape == (4, 1, 32, 32)
    assert (m.sum(dim=(1, 2, 3)) == 256).all()  # string args are coerced: 16x16 squares


def test_make_masks_errors() -> None:
    with pytest.raises(ZooError, match="did you mean 'paper'"):
        make_masks("papr", {}, 1, 32, 32)
    with pytest.raises(ZooError, match="mask_args.sise"):
        make_masks("paper", {"sise": 3}, 1, 32, 32)


def test_frozen_masks_are_frozen() -> None:
    a = frozen_masks("paper", {}, 100, 32, 32)
    b = frozen_masks("paper", {}, 100, 32, 32)
    assert torch.equal(a, b)
    assert not torch.equal(a, frozen_masks("paper", {}, 100, 32, 32, seed=1))
    expected = builtin.paper_masks(builtin.PaperMaskConfig(), 100, 32, 32,
                                   torch.Generator().manual_seed(2024), "cpu")
    assert torch.equal(a, expected)


def test_make_masks_holds_plugins_to_the_contract(plugin_env) -> None:
    from zoo.plugin.contract import ContractError

    plugin_env.add_misbehaving("fxmasks")
    plugin_env.refresh()
    assert make_masks("fxgood", {}, 2, 16, 16).shape == (2, 1, 16, 16)
    with pytest.raises(ContractError, match=r"^mask 'fxflat' \(plugin 'fxmasks', zoo-fx-fxmasks "
                       r"9.9\): shape declares \(2, 1, 16, 16\) but generate\(config, 2, 16, "
                       r"16, generator, 'cpu'\) returned \(2, 16, 16\)"):
        make_masks("fxflat", {}, 2, 16, 16)

"""The training recipe: loss terms, U-Net options, schedules, EMA, masks of real use, area
bins and coarse-to-fine inpainting. Every option: shape, gradient, a few steps lowering the
loss, and a checkpoint round trip."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from zoo.modelfolder.checkpoint import load_model, read_checkpoint
from zoo.config import PRESETS, TrainConfig, format_loss, parse_loss
from zoo.settings import build_config
from zoo.errors import ZooError
from zoo.losses import build_loss
from zoo.masks import frozen_masks
from zoo.metrics import AREA_BINS, score
from zoo.model import build_model, count_parameters
from zoo.plugin.registry import get_registry
from zoo.train import train

TINY = {"dataset": "synthetic", "train_limit": 64, "val_limit": 16, "test_limit": 16,
        "epochs": 2, "batch_size": 16, "unet": {"widths": [8, 16, 32]}, "threads": 1}


def tiny(**kw) -> TrainConfig:
    unet = {**TINY["unet"], **kw.pop("unet", {})}
    return build_config({**TINY, **kw, "unet": unet})


def _batch(seed: int = 0, n: int = 4, size: int = 32) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(n, 3, size, size, generator=g)
    target = torch.nn.functional.avg_pool2d(target, 5, 1, 2)  # smooth, so it can be learned
    mask = frozen_masks("paper", {}, n, size, size, seed=seed)
    return target, mask


# ---- loss terms ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(get_registry().losses))
def test_every_loss_term_is_a_scalar_with_a_gradient(name: str) -> None:
    loss = build_loss(tiny(loss=name))
    target, mask = _batch()
    pred = torch.rand_like(target).requires_grad_(True)
    total, parts = loss(pred, target, mask)
    assert total.dim() == 0 and math.isfinite(total.item())
    assert set(parts) == {name}
    total.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["l1_hole", "l1_known", "l2_hole", "l2_known", "ssim", "tv",
                                  "hole_l1", "mse", "l1", "psnr_hole"])
def test_reconstruction_terms_fall_when_optimised(name: str) -> None:
    """A few Adam steps on the prediction itself lower each reconstruction term."""
    loss = build_loss(tiny(loss=name))
    target, mask = _batch()
    pred = torch.rand(target.shape, generator=torch.Generator().manual_seed(1))
    pred.requires_grad_(True)
    opt = torch.optim.Adam([pred], lr=0.05)
    first = None
    for _ in range(10):
        value, _ = loss(pred, target, mask)
        first = value.item() if first is None else first
        opt.zero_grad()
        value.backward()
        opt.step()
    assert loss(pred, target, mask)[0].item() < first


def test_hole_and_known_terms_see_only_their_pixels() -> None:
    target, mask = _batch()
    pred = target.clone()
    pred_hole_wrong = torch.where(mask.bool().expand_as(pred), 1 - target, target)
    l_hole, l_known = build_loss(tiny(loss="l1_hole")), build_loss(tiny(loss="l1_known"))
    assert l_known(pred_hole_wrong, target, mask)[0].item() == 0.0
    assert l_hole(pred_hole_wrong, target, mask)[0].item() > 0.0
    # the legacy hole_l1 is l1_hole:6 + l1_known:1
    combo = build_loss(tiny(loss="l1_hole:6+l1_known:1"))
    noisy = (target + 0.1 * torch.randn_like(target)).clamp(0, 1)
    assert torch.allclose(combo(noisy, target, mask)[0],
                          build_loss(tiny(loss="hole_l1"))(noisy, target, mask)[0])


def test_psnr_hole_term_is_max_db_minus_the_metric_and_weighs_each_image_per_db() -> None:
    from zoo.metrics import per_image

    target, mask = _batch(n=6)
    g = torch.Generator().manual_seed(2)
    scale = torch.tensor([0.02, 0.05, 0.1, 0.2, 0.3, 0.5]).view(-1, 1, 1, 1)  # 34 to 6 dB
    pred = (target + scale * torch.randn(target.shape, generator=g)).requires_grad_(True)
    loss = build_loss(tiny(loss="psnr_hole", loss_args={"psnr_hole": {"max_db": 60}}))
    value, _ = loss(pred, target, mask)
    metric = per_image(target, pred.detach(), mask)["psnr_hole"]
    assert value.item() == pytest.approx((60 - metric).mean().item(), abs=0.01)
    # the gradient on an image is its MSE gradient over its MSE: the same relative error
    # pulls as hard on a nearly right hole as on a wrong one, unlike the batch MSE
    (grad,) = torch.autograd.grad(value, pred)
    per_image_grad = grad.flatten(1).norm(dim=1) * scale.flatten()
    assert per_image_grad.max() / per_image_grad.min() < 1.3
    (mse_grad,) = torch.autograd.grad(build_loss(tiny(loss="l2_hole"))(pred, target, mask)[0], pred)
    mse_norm = mse_grad.flatten(1).norm(dim=1)
    assert mse_norm.max() / mse_norm.min() > 20  # the MSE: the worst hole pulls 25x harder
    # a perfect fill, and an image without a hole, add nothing
    none = torch.zeros_like(mask)
    assert loss(target, target, mask)[0].item() == 0.0
    assert loss(pred, target, none)[0].item() == 0.0
    with pytest.raises(ZooError, match="max_db must be in"):
        build_loss(tiny(loss="psnr_hole", loss_args={"psnr_hole": {"max_db": 0}}))


def test_discriminator_learns_to_tell_real_from_fake() -> None:
    torch.manual_seed(0)  # its own init, not whatever the tests before it left in the RNG
    loss = build_loss(tiny(loss="adv", loss_args={"adv": {"width": 8, "layers": 2}}))
    (term,) = loss.trainable_terms().values()
    target, mask = _batch()
    fake = torch.where(mask.bool().expand_as(target), torch.full_like(target, 0.5), target)
    opt = torch.optim.Adam(term.parameters(), lr=1e-3, betas=(0.5, 0.999))
    first = term.update(fake, target, mask).item()
    for _ in range(30):
        opt.zero_grad()
        term.update(fake, target, mask).backward()
        opt.step()
    assert term.update(fake, target, mask).item() < first


@pytest.mark.parametrize("spec, message", [
    ("l1_hole:x", "must be a number"), ("l1_hole:-1", "positive finite weight"),
    ("l1+l1", "appears twice"), ("", "must be a string"), ("l1_hoel", "did you mean")])
def test_bad_loss_specs_are_refused_with_the_fix(spec: str, message: str) -> None:
    with pytest.raises(ZooError, match=message):
        build_loss(tiny(loss=spec))


def test_loss_args_for_an_unused_term_are_refused() -> None:
    with pytest.raises(ZooError, match="does not use"):
        build_loss(tiny(loss="l1", loss_args={"adv": {"lr": 1e-3}}))
    with pytest.raises(ZooError, match="unknown option 'loss_args.adv.lrr'"):
        build_loss(tiny(loss="adv", loss_args={"adv": {"lrr": 1e-3}}))


def test_loss_spec_is_canonical() -> None:
    assert format_loss(parse_loss(" l1_hole:6.0 + l1_known:1 ")) == "l1_hole:6+l1_known"
    assert tiny(loss="l1_hole:6.0+l1_known:1").hash() == tiny(loss="l1_hole:6+l1_known").hash()


# ---- U-Net options ------------------------------------------------------------------------

UNET_OPTIONS = [{"conv": "gated"}, {"bottleneck": "dilated", "bottleneck_blocks": 3},
                {"bottleneck": "ffc"}, {"conv": "gated", "bottleneck": "ffc"},
                {"prefill": "pushpull"}, {"prefill": "pushpull", "output": "residual"}]


@pytest.mark.parametrize("unet", UNET_OPTIONS, ids=lambda u: ",".join(f"{k}={v}" for k, v in u.items()))
def test_unet_option_shape_gradient_learning_round_trip(unet: dict, tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = tiny(unet={**unet, "mask_channel": True, "dropout": 0.0, "norm": "none"})
    model = build_model(config)
    target, mask = _batch(n=8)
    for size in (32, 48):  # the FFT and dilations take any size the depth takes
        t, m = _batch(n=2, size=size)
        assert model(t * (1 - m), m).shape == (2, 3, size, size)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        out = model(target * (1 - mask), mask)
        loss = ((out - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        losses.append(loss.item())
        opt.step()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert losses[-1] < losses[0]
    # a fresh model from the same config, loaded with the weights, gives the same outputs
    clone = build_model(config)
    clone.load_state_dict(copy.deepcopy(model.state_dict()))
    model.eval(), clone.eval()
    with torch.no_grad():
        assert torch.equal(model(target * (1 - mask), mask), clone(target * (1 - mask), mask))


def test_gated_conv_adds_gates_and_paper_model_is_unchanged() -> None:
    paper = build_model(build_config(PRESETS["paper"]))
    gated = build_model(build_config({**PRESETS["paper"],
                                               "unet": {**PRESETS["paper"]["unet"],
                                                        "conv": "gated"}}))
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(paper) == 741_763  # the paper's count is untouched by the new options
    assert count(gated) > count(paper)


@pytest.mark.parametrize("bad, message", [({"unet": {"conv": "gatd"}}, "did you mean"),
                                          ({"unet": {"bottleneck": "fft"}}, "valid: none"),
                                          ({"lr_schedule": "cos"}, "valid: constant"),
                                          ({"ema": 1.0}, "ema must be in"),
                                          ({"warmup": 1.5}, "warmup must be in"),
                                          ({"grad_clip": -1}, "grad_clip must be")])
def test_bad_recipe_options_are_refused(bad: dict, message: str) -> None:
    with pytest.raises(ZooError, match=message):
        build_config({**TINY, **bad})


# ---- the whole recipe through train() -----------------------------------------------------

RECIPE = {"loss": "l1_hole:6+l1_known:1+ssim:0.2+tv:0.05+adv:0.01",
          "loss_args": {"adv": {"width": 8, "layers": 2}}, "lr_schedule": "cosine",
          "warmup": 0.2, "grad_clip": 1.0, "ema": 0.9,
          "unet": {"mask_channel": True, "composite": True, "conv": "gated",
                   "bottleneck": "dilated", "dropout": 0.0}}


def test_full_recipe_trains_resumes_and_reloads(tmp_path: Path) -> None:
    """Every recipe option at once: the run finishes, its schedule moves the lr, the EMA is
    what gets saved, and an interrupted run resumed ends with the same weights as one
    that ran straight through."""
    config = tiny(epochs=3, **copy.deepcopy(RECIPE))
    straight = train(config, tmp_path / "straight", final_eval=False)
    history = straight["history"]
    assert all(math.isfinite(r["train_loss"]) for r in history)
    assert {"loss_adv", "loss_ssim", "loss_tv"} <= set(history[0])
    assert history[0]["lr"] != history[-1]["lr"]  # cosine decays

    def stop(record, ckpt):
        if record["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "resumed", on_epoch=stop, final_eval=False)
    train(config, tmp_path / "resumed", final_eval=False)
    a = read_checkpoint(tmp_path / "straight")
    b = read_checkpoint(tmp_path / "resumed")
    for key in ("model", "train_model"):
        for name, tensor in a[key].items():
            assert torch.allclose(tensor.float(), b[key][name].float(), atol=1e-5), (key, name)
    assert not all(torch.equal(a["model"][k], a["train_model"][k]) for k in a["model"])
    model, loaded, _ = load_model(tmp_path / "straight")
    assert loaded.ema == 0.9 and isinstance(model, nn.Module)


@pytest.mark.parametrize("schedule", ["cosine", "onecycle"])
def test_schedules_warm_up_then_decay(schedule: str, tmp_path: Path) -> None:
    result = train(tiny(epochs=4, lr_schedule=schedule, warmup=0.25, lr=1e-2), tmp_path,
                   final_eval=False)
    lrs = [r["lr"] for r in result["history"]]
    assert max(lrs) <= 1e-2 + 1e-9 and lrs[-1] < max(lrs) / 5


def test_strong_preset_is_valid_and_uses_the_recipe() -> None:
    config = build_config(PRESETS["strong"])
    assert config.unet.mask_channel and config.unet.composite
    assert config.lr_schedule != "constant" and config.ema > 0 and config.batch_size < 64
    build_model(config), build_loss(config)


# ---- masks and area bins ------------------------------------------------------------------


def test_irregular_masks_cover_every_area_bin_and_are_frozen() -> None:
    masks = frozen_masks("irregular", {}, 600, 32, 32)
    frac = masks.mean(dim=(1, 2, 3))
    counts = [int(((frac >= lo) & (frac < hi)).sum()) for lo, hi in AREA_BINS[:6]]
    assert min(counts) >= 30, counts  # each 10 % bin up to 60 % is well populated
    assert torch.equal(masks, frozen_masks("irregular", {}, 600, 32, 32))
    # strokes: thin ones too, not only boxes (some masks have a 1-2 px wide part)
    eroded = -torch.nn.functional.max_pool2d(-masks, 3, 1, 1)
    assert (eroded.sum(dim=(1, 2, 3)) < masks.sum(dim=(1, 2, 3))).all()


def test_metrics_are_reported_per_area_bin_when_areas_vary() -> None:
    target = torch.rand(600, 3, 32, 32)
    masks = frozen_masks("irregular", {}, 600, 32, 32)
    pred = (target + 0.05).clamp(0, 1)
    out = score(target, pred, masks)
    assert {"psnr_hole@0-10", "psnr_hole@50-60", "n@20-30"} <= set(out)
    assert sum(v for k, v in out.items() if k.startswith("n@")) == 600
    fixed = score(target, pred, frozen_masks("paper", {}, 600, 32, 32))
    assert not any("@" in k for k in fixed)  # one size of hole: nothing to split


# ---- coarse to fine -----------------------------------------------------------------------


class NearFill(nn.Module):
    """A stand-in for a model trained on small holes: it fills each hole pixel with the
    mean of the known pixels within 5 px, and grey deeper inside (what a real one does)."""

    multiple = 1

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        known = 1 - mask
        num = torch.nn.functional.avg_pool2d(masked * known, 11, 1, 5)
        den = torch.nn.functional.avg_pool2d(known, 11, 1, 5)
        fill = torch.where(den > 0, num / den.clamp(min=1e-6), torch.full_like(num, 0.5))
        return masked * known + fill * mask


def test_coarse_to_fine_continues_the_surroundings_into_large_holes() -> None:
    from zoo.inpaint import Picture, inpaint_picture

    h, w = 300, 420
    pixels = np.zeros((h, w, 3), dtype=np.uint8)
    pixels[..., 2] = 200  # a blue sky ...
    pixels[200:, :, :] = (40, 160, 40)  # ... over green grass
    hole = np.zeros((h, w), dtype=bool)
    hole[120:260, 150:300] = True  # a box across the horizon, 140 px tall
    picture = Picture(pixels)
    one = inpaint_picture(NearFill(), picture, hole, multiscale=False).pixels
    multi = inpaint_picture(NearFill(), picture, hole).pixels
    assert np.array_equal(multi[~hole], pixels[~hole])  # known pixels bit-exact
    err = lambda out: np.abs(out.astype(int) - pixels.astype(int))[hole].mean()  # noqa: E731
    assert err(one) > 40  # one pass: a grey blob in the middle
    assert err(multi) < min(25, err(one) / 2)  # coarse to fine: blue sky, green grass
    # (the horizon inside the hole is blurred over a few coarse pixels: what is left)
    assert abs(int(multi[150, 225, 2]) - 200) < 20 and abs(int(multi[250, 225, 1]) - 160) < 25


def test_thin_holes_stay_at_full_resolution() -> None:
    from zoo.inpaint import predict, predict_multiscale

    rng = np.random.default_rng(0)
    rgb = rng.random((64, 80, 3)).astype(np.float32)
    hole = np.zeros((64, 80), dtype=bool)
    hole[30:33, :] = True  # a 3-px scratch: within reach everywhere
    model = NearFill()
    a = predict_multiscale(model, rgb, hole)
    b = predict(model, rgb, hole)
    assert np.allclose(a[hole], b[hole], atol=1e-6)


def test_mixed_masks_draw_each_kind_and_check_their_options() -> None:
    masks = frozen_masks("mixed", {}, 400, 32, 32)
    paper = frozen_masks("paper", {}, 400, 32, 32)
    frac = masks.mean(dim=(1, 2, 3))
    square_11 = (frac == paper[0].mean()).float().mean()  # the paper's 121-pixel squares
    assert 0.3 < square_11 < 0.7  # about half of each kind
    only_paper = frozen_masks("mixed", {"kinds": "paper,irregular", "weights": "1,0"}, 50, 32, 32)
    assert (only_paper.mean(dim=(1, 2, 3)) == paper[0].mean()).all()
    with pytest.raises(ZooError, match="one per kind"):
        frozen_masks("mixed", {"weights": "1"}, 4, 32, 32)
    with pytest.raises(ZooError, match="unknown mask"):
        frozen_masks("mixed", {"kinds": "paper,irreguler"}, 4, 32, 32)


def test_saved_timm_model_reloads_without_its_initial_weights(tmp_path: Path) -> None:
    """The timm plugin says how its model is rebuilt from a save (no initial weights are
    read again): a model trained from a local weights file still loads after that file is
    gone, with its trained weights; the core names none of the plugin's fields."""
    import timm
    from safetensors.torch import save_file

    weights = tmp_path / "resnet18.safetensors"
    save_file(timm.create_model("resnet18", pretrained=False).state_dict(), str(weights))
    config = tiny(epochs=1, encoder="timm",
                  encoder_args={"model": "resnet18", "weights": str(weights)})
    train(config, tmp_path / "run", final_eval=False)
    weights.unlink()
    model, loaded, payload = load_model(tmp_path / "run")
    assert loaded.encoder_args["weights"] == str(weights)  # the record is kept as trained
    saved = payload["model"]
    assert all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())
    spec = get_registry().encoder("timm").spec
    assert spec.reload_args({"weights": "x", "pretrained": True}) == {"weights": None,
                                                                     "pretrained": False}


def test_pushpull_fill_keeps_known_pixels_and_fills_from_them() -> None:
    from zoo.model._fill import pushpull_fill

    torch.manual_seed(0)
    x = torch.rand(3, 3, 33, 20)  # odd sides
    hole = torch.zeros(3, 1, 33, 20)
    hole[:, :, 5:25, 3:15] = 1
    filled = pushpull_fill(x * (1 - hole), hole)
    known = (1 - hole).bool().expand_as(x)
    assert torch.equal(filled[known], x[known])  # known pixels untouched
    inside = filled[~known].view(3, 3, -1)
    lo = x.masked_fill(~known, 2).amin(dim=(2, 3), keepdim=True).view(3, 3, 1)
    hi = x.masked_fill(~known, -1).amax(dim=(2, 3), keepdim=True).view(3, 3, 1)
    assert (inside >= lo - 1e-6).all() and (inside <= hi + 1e-6).all()  # a mean of knowns
    # a flat colour is filled exactly; a left/right split fills each side from its own side
    flat = torch.full((1, 3, 16, 16), 0.3)
    assert torch.allclose(pushpull_fill(flat * (1 - hole[:1, :, :16, :16]), hole[:1, :, :16, :16]),
                          flat)
    split = torch.zeros(1, 3, 32, 32)
    split[..., 16:] = 1
    box = torch.zeros(1, 1, 32, 32)
    box[..., 8:24, 8:24] = 1
    out = pushpull_fill(split * (1 - box), box)
    assert out[..., 16, 9].mean() < 0.3 and out[..., 16, 22].mean() > 0.7


def test_pushpull_beats_mean_fill_on_real_images(cifar_dir: Path) -> None:
    from zoo.baselines import BASELINES
    from zoo.data import load_dataset
    from zoo.model._fill import pushpull_fill

    config = build_config({"data_dir": str(cifar_dir), "train_limit": 8, "val_limit": 8,
                           "test_limit": 200})
    x = load_dataset(config).test.float() / 255
    m = frozen_masks("paper", {}, len(x), 32, 32, seed=0)
    ours = score(x, pushpull_fill(x * (1 - m), m), m)["psnr_hole"]
    mean = score(x, BASELINES["mean_fill"](x * (1 - m), m).float(), m)["psnr_hole"]
    assert ours > mean + 1.5  # a smooth fill from the hole's own borders, not a flat colour


def test_prefill_adds_no_parameters() -> None:
    paper = build_model(build_config(PRESETS["paper"]))
    pre = build_model(build_config(PRESETS["paper"], {"unet.prefill": "pushpull"}))
    assert count_parameters(pre) == count_parameters(paper) == 741_763


def test_residual_output_corrects_the_prefill_and_needs_one() -> None:
    """With its head at zero a residual U-Net returns the push-pull fill itself (up to the
    logit's clamp), so training starts from that guess; without a prefill it is refused."""
    from zoo.model._fill import pushpull_fill

    config = build_config(PRESETS["strong"], {"unet.output": "residual", "unet.widths": [8, 16, 32],
                                              "encoder": "none"})
    model = build_model(config).eval()
    nn.init.zeros_(model.head.weight), nn.init.zeros_(model.head.bias)
    target, mask = _batch()
    masked = target * (1 - mask)
    with torch.no_grad():
        out = model(masked, mask)
    fill = pushpull_fill(masked, mask)
    hole = mask.bool().expand_as(out)
    assert (out[hole] - fill[hole]).abs().max() < 2e-3
    assert torch.equal(out[~hole], masked[~hole])  # composited: known pixels exact
    assert count_parameters(model) == count_parameters(
        build_model(build_config(config.to_dict(), {"unet.output": "direct"})))
    with pytest.raises(ZooError, match="set unet.prefill=pushpull"):
        build_config(PRESETS["paper"], {"unet.output": "residual"})
    with pytest.raises(ZooError, match="valid: direct, residual"):
        build_config(PRESETS["strong"], {"unet.output": "resid"})

"""The plugin contract on EVERY installed plugin through the kit plugin authors use
(``zoo.plugin.testing``: a new plugin is tested the moment it registers), the U-Net-level checks
on every encoder, then a few checks specific to the built-in plugins."""

from __future__ import annotations

import pytest
import torch

from zoo.config import TrainConfig, UNetConfig
from zoo.errors import ZooError
from zoo.model import build_model
from zoo.plugin.registry import build_encoder, get_registry
from zoo.plugin.testing import PluginContract

ENCODERS = sorted(get_registry().encoders)

# Smaller settings only to keep the suite fast; any encoder not listed runs its defaults.
FAST_ARGS: dict[str, dict] = {"convmixer": {"width": 32}, "timm": {"model": "resnet18"}}
SMALL_UNET = {"widths": (8, 16, 32)}  # depth 2, as the paper; 32 != most encoders' widths
SIZES = [(32, 32), (64, 64), (32, 64)]


def _config(name: str, **unet) -> TrainConfig:
    return TrainConfig(encoder=name, encoder_args=dict(FAST_ARGS.get(name, {})),
                       unet=UNetConfig(**{**SMALL_UNET, **unet}))


def _batch(h: int, w: int, b: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(b, 3, h, w, generator=g)
    mask = torch.zeros(b, 1, h, w)
    mask[..., h // 4: h // 2, w // 4: w // 2] = 1
    return image * (1 - mask), mask


def test_builtins_are_registered() -> None:
    assert {"none", "convmixer", "timm"} <= set(ENCODERS), get_registry().broken


class TestEveryPlugin(PluginContract):
    """zoo.plugin.contract on every encoder, mask and loss installed; a broken plugin fails."""

    plugin = None
    settings = {k: v for k, v in FAST_ARGS.items() if k != "timm"}  # timm: the default


@pytest.mark.parametrize("name", ENCODERS)
class TestEncoderContract:
    """What the U-Net relies on, in the U-Net: forward/backward, a checkpoint round trip."""

    @pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
    def test_forward_backward(self, name: str, size: tuple[int, int]) -> None:
        torch.manual_seed(0)
        model = build_model(_config(name))
        masked, mask = _batch(*size)
        out = model(masked, mask)
        assert out.shape == masked.shape
        assert out.min() >= 0 and out.max() <= 1
        loss = torch.nn.functional.mse_loss(out, masked)
        loss.backward()
        grads = [p.grad for p in model.parameters() if p.requires_grad]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        enc_grads = [p.grad for p in model.encoder.parameters()]
        if model.encoder.out_channels > 0 and enc_grads:
            # the fused features really reach the loss
            assert any(g is not None and g.abs().sum() > 0 for g in enc_grads)

    def test_checkpoint_round_trip(self, name: str, tmp_path) -> None:
        torch.manual_seed(1)
        model = build_model(_config(name, mask_channel=True))
        masked, mask = _batch(32, 32)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        torch.nn.functional.mse_loss(model(masked, mask), masked).backward()
        opt.step()  # weights and BatchNorm statistics move away from any fresh init
        path = tmp_path / "model.pt"
        torch.save(model.state_dict(), path)

        torch.manual_seed(2)
        fresh = build_model(_config(name, mask_channel=True))
        model.eval()
        fresh.eval()
        with torch.no_grad():
            expected = model(masked, mask)
            assert not torch.equal(fresh(masked, mask), expected)
            fresh.load_state_dict(torch.load(path, weights_only=True), strict=True)
            assert torch.equal(fresh(masked, mask), expected)

    def test_bad_size_is_a_zoo_error(self, name: str) -> None:
        model = build_model(_config(name))
        masked, mask = _batch(30, 30, b=1)
        with pytest.raises(ZooError, match="pad_input"):
            model(masked, mask)


# ---- the built-in plugins' own behaviour ----------------------------------------------------


def test_none_means_no_fusion() -> None:
    model = build_model(TrainConfig(encoder="none"))
    assert model.fusion is None and model.encoder.out_channels == 0


def test_convmixer_refuses_sizes_off_its_patch() -> None:
    enc = build_encoder("convmixer", {"width": 8, "patch": 4}, 3)
    assert enc.output_size(32, 16) == (8, 4)
    with pytest.raises(ZooError, match=r"multiples of 4.*height: 28 or 32"):
        enc.output_size(30, 32)
    with pytest.raises(ZooError, match="encoder_args.width"):
        build_encoder("convmixer", {"width": 0}, 3)


def test_timm_feature_level_and_errors() -> None:
    enc = build_encoder("timm", {"model": "resnet18", "out_index": 1}, 3)
    assert (enc.out_channels, enc.reduction) == (64, 4)
    assert enc.output_size(32, 64) == (8, 16)
    with pytest.raises(ZooError, match="did you mean 'resnet18'"):
        build_encoder("timm", {"model": "resnt18"}, 3)
    with pytest.raises(ZooError, match=r"out_index 9 .*-5\.\.4"):
        build_encoder("timm", {"model": "resnet18", "out_index": 9}, 3)


def test_timm_fixed_size_model_names_the_size_it_takes() -> None:
    model = build_model(TrainConfig(encoder="timm", encoder_args={"model": "vit_tiny_patch16_224"},
                                    unet=UNetConfig(widths=(8, 16, 32))))
    masked, mask = _batch(32, 32, b=1)
    with pytest.raises(ZooError, match="use 224x224"):
        model(masked, mask)


def test_timm_output_size_does_not_touch_batchnorm_statistics() -> None:
    enc = build_encoder("timm", {"model": "resnet18"}, 3)
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    enc.train()
    enc.output_size(48, 48)
    assert enc.training
    assert all(torch.equal(before[k], v) for k, v in enc.state_dict().items())


@pytest.mark.parametrize("kind", ["full.pth", "features.safetensors"])
def test_timm_local_weights_load(kind: str, tmp_path) -> None:
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(3)
    if kind.startswith("full"):  # a classifier checkpoint, head included
        source = timm.create_model("resnet18", in_chans=4)
    else:  # exactly the feature extractor
        source = timm.create_model("resnet18", features_only=True, out_indices=(-1,), in_chans=4)
    state = source.state_dict()
    path = tmp_path / kind
    if path.suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path)
    enc = build_encoder("timm", {"model": "resnet18", "weights": str(path)}, 4)
    loaded = enc.body.state_dict()
    assert loaded and all(torch.equal(v, state[k]) for k, v in loaded.items())


def test_timm_local_weights_errors(tmp_path) -> None:
    import timm

    with pytest.raises(ZooError, match="no such file"):
        build_encoder("timm", {"weights": str(tmp_path / "missing.pth")}, 3)
    other = tmp_path / "resnet34.pth"  # a superset of resnet18's keys: must still be refused
    torch.save(timm.create_model("resnet34").state_dict(), other)
    with pytest.raises(ZooError, match="does not match timm model 'resnet18'"):
        build_encoder("timm", {"weights": str(other)}, 3)
    three = tmp_path / "rgb.pth"
    torch.save(timm.create_model("resnet18").state_dict(), three)
    with pytest.raises(ZooError, match="mask channel"):
        build_encoder("timm", {"weights": str(three)}, 4)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ZooError, match="cannot read"):
        build_encoder("timm", {"weights": str(junk)}, 3)

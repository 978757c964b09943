"""The U-Net core: the paper's parameter counts, every option, sizes, fusion plumbing."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from zoo.config import TrainConfig, UNetConfig, preset
from zoo.settings import build_config
from zoo.errors import ZooError
from zoo.model import InpaintUNet, build_model, count_parameters
from zoo.model._blocks import resize_to


# ---- the paper's models, counted by hand from PAPER.md / the Keras reference ------------------

def conv(k: int, cin: int, cout: int) -> int:  # Conv2D and Conv2DTranspose: weights + bias
    return k * k * cin * cout + cout


def bn(c: int) -> int:  # trainable gamma and beta; the running stats are not parameters
    return 2 * c


def convmixer(cin: int, width: int = 256, depth: int = 2, kernel: int = 5, patch: int = 2) -> int:
    stem = conv(patch, cin, width) + bn(width)
    block = (kernel * kernel * width + width) + bn(width) + conv(1, width, width) + bn(width)
    return stem + depth * block


def paper_unet() -> int:
    return (conv(3, 3, 64) + bn(64)  # level A, BN after its pool
            + conv(3, 64, 128) + bn(128)  # level B
            + conv(3, 128, 256)  # middle
            + conv(3, 256, 128) + conv(3, 128, 64)  # the two transposed convs
            + conv(3, 64, 3))  # head


def _paper(encoder: str) -> TrainConfig:
    return build_config({**preset("paper"), "encoder": encoder})


def test_paper_vanilla_parameter_count() -> None:
    assert count_parameters(build_model(_paper("none"))) == paper_unet()


def test_paper_fused_convmixer_parameter_count() -> None:
    # the add of 256 onto 256 channels needs no projection, so nothing else is added
    assert count_parameters(build_model(_paper("convmixer"))) == paper_unet() + convmixer(3)


def test_paper_fused_output_is_pooled_to_the_bottleneck() -> None:
    model = build_model(_paper("convmixer")).eval()
    assert model.encoder.output_size(32, 32) == (16, 16)
    f = torch.rand(1, 256, 16, 16)
    assert torch.equal(resize_to(f, (8, 8)), F.avg_pool2d(f, 2))  # the paper's AveragePooling2D


def test_resize_broadcasts_and_interpolates() -> None:
    g = torch.rand(2, 5, 1, 1)  # global features, as a ResNet's deepest level at 32x32
    assert torch.equal(resize_to(g, (8, 8)), g.expand(2, 5, 8, 8))
    assert resize_to(torch.rand(1, 3, 6, 5), (8, 8)).shape == (1, 3, 8, 8)


# ---- every option -----------------------------------------------------------------------------

NORMS = ("batch", "group", "instance", "none")
ACTS = ("relu", "gelu", "silu")
COMBOS = list(itertools.product(("add", "concat"), ("transposed", "bilinear"),
                                ("add", "concat", "gated"), (False, True)))


@pytest.mark.parametrize("i,combo", list(enumerate(COMBOS)),
                         ids=["-".join(map(str, c)) for c in COMBOS])
def test_option_combination(i: int, combo: tuple) -> None:
    skip, upsample, fusion, mask_channel = combo
    depth = 1 + i % 4  # depths 1..4, each met with every norm; activations cycle too
    unet = UNetConfig(depth=depth, widths=tuple(4 * 2**d for d in range(depth + 1)),
                      skip_merge=skip, upsample=upsample, fusion_merge=fusion,
                      mask_channel=mask_channel, norm=NORMS[i // 4 % 4], activation=ACTS[i % 3],
                      convs_per_level=1 + i % 2, decoder_convs=i % 3, dropout=0.1 * (i % 2),
                      composite=bool(i % 2))
    # convmixer width 12 never equals the bottleneck width: every merge needs its projection
    torch.manual_seed(i)
    model = build_model(TrainConfig(encoder="convmixer", unet=unet,
                                    encoder_args={"width": 12, "depth": 1, "kernel": 3}))
    assert model.encoder.stem[0].in_channels == (4 if mask_channel else 3)
    size = max(16, 2 ** (depth + 1))  # instance norm needs > 1 pixel after the last pool
    masked = torch.rand(2, 3, size, size)
    mask = (torch.rand(2, 1, size, size) > 0.7).float()
    out = model(masked * (1 - mask), mask)
    assert out.shape == masked.shape and out.min() >= 0 and out.max() <= 1
    out.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_composite_keeps_known_pixels_exactly() -> None:
    torch.manual_seed(0)
    model = build_model(TrainConfig(unet=UNetConfig(composite=True))).eval()
    image = torch.rand(2, 3, 32, 32)
    mask = torch.zeros(2, 1, 32, 32)
    mask[..., 5:16, 5:16] = 1
    masked = image * (1 - mask)
    with torch.no_grad():
        out = model(masked, mask)
    known = (mask == 0).expand_as(out)
    assert torch.equal(out[known], masked[known])
    assert (out[~known] > 0).all()  # the hole is the network's (sigmoid) output, not zeros


def test_mask_channel_feeds_the_mask_to_both_encoders() -> None:
    masked = torch.rand(1, 3, 32, 32)
    m1 = torch.zeros(1, 1, 32, 32)
    m2 = m1.clone()
    m2[..., 8:20, 8:20] = 1
    for mask_channel in (False, True):
        torch.manual_seed(0)
        model = build_model(TrainConfig(encoder="convmixer",
                                        unet=UNetConfig(mask_channel=mask_channel))).eval()
        with torch.no_grad():
            same = torch.equal(model(masked, m1), model(masked, m2))
        assert same is not mask_channel  # without the channel the net cannot see the mask


def test_unet_reads_only_the_encoder_contract() -> None:
    class Odd(nn.Module):  # not registered anywhere: a 5-channel 3x5 map whatever the input
        out_channels = 5

        def output_size(self, h: int, w: int) -> tuple[int, int]:
            return 3, 5

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.adaptive_avg_pool2d(x[:, :1].expand(-1, 5, -1, -1), (3, 5))

    model = InpaintUNet(UNetConfig(widths=(4, 8, 16), fusion_merge="gated"), Odd())
    assert model(torch.rand(2, 3, 32, 32), torch.zeros(2, 1, 32, 32)).shape == (2, 3, 32, 32)
    assert InpaintUNet(UNetConfig(widths=(4, 8, 16))).fusion is None  # no encoder at all


# ---- sizes -----------------------------------------------------------------------------------

@pytest.mark.parametrize("depth,size,valid", [
    (2, (30, 30), "28x28 or 32x32"),
    (2, (30, 36), "28x36 or 32x36"),
    (3, (30, 30), "24x24 or 32x32"),
    (2, (2, 2), "use 4x4,"),
])
def test_wrong_size_names_valid_sizes(depth: int, size: tuple[int, int], valid: str) -> None:
    model = InpaintUNet(UNetConfig(depth=depth, widths=(4,) * (depth + 1)))
    with pytest.raises(ZooError) as err:
        model(torch.rand(1, 3, *size), torch.zeros(1, 1, *size))
    message = str(err.value)
    assert f"input {size[0]}x{size[1]}" in message and valid in message
    assert f"multiples of {2**depth}" in message and "unet.pad_input=true" in message


def test_encoder_size_error_is_reported_with_sizes_both_take() -> None:
    model = build_model(TrainConfig(encoder="convmixer",
                                    encoder_args={"width": 8, "depth": 1, "patch": 8}))
    with pytest.raises(ZooError, match=r"fusion encoder .*use 32x32 or 40x40"):
        model(torch.rand(1, 3, 36, 36), torch.zeros(1, 1, 36, 36))


@pytest.mark.parametrize("encoder", ["none", "convmixer"])
def test_pad_input_takes_30x30(encoder: str) -> None:
    torch.manual_seed(0)
    model = build_model(TrainConfig(encoder=encoder, encoder_args={"width": 16} if encoder ==
                                    "convmixer" else {},
                                    unet=UNetConfig(pad_input=True, composite=True))).eval()
    assert model.padded_size(30, 30) == (32, 32)
    masked = torch.rand(2, 3, 30, 30)
    mask = torch.zeros(2, 1, 30, 30)
    mask[..., 10:20, 10:20] = 1
    masked = masked * (1 - mask)
    with torch.no_grad():
        out = model(masked, mask)
    assert out.shape == (2, 3, 30, 30)
    known = (mask == 0).expand_as(out)
    assert torch.equal(out[known], masked[known])
    with torch.no_grad():  # a valid size is not padded: same result as without the option
        plain = InpaintUNet(UNetConfig(composite=True), model.encoder).eval()
        plain.load_state_dict(model.state_dict())
        x, m = torch.rand(1, 3, 32, 32), torch.zeros(1, 1, 32, 32)
        assert torch.equal(model(x, m), plain(x, m))


def test_bad_input_shapes_are_zoo_errors() -> None:
    model = InpaintUNet(UNetConfig(widths=(4, 8, 16)))
    with pytest.raises(ZooError, match=r"\(B, 3, H, W\)"):
        model(torch.rand(1, 4, 32, 32), torch.zeros(1, 1, 32, 32))

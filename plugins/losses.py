"""Built-in loss terms, registered through ``zoo_register_losses`` like any plugin's.

Reconstruction terms are normalised by all pixels (as in Liu et al. 2018), so that
``l1_hole:6+l1_known:1`` is partial convolutions' weighting and equals the old ``hole_l1``.
``adv`` is DeepFill v2's recipe, which needs no downloaded weights: a PatchGAN
discriminator with spectral norm, the hinge loss, and discriminator feature matching.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import zoo
from zoo.errors import ZooError
from zoo.hookspecs import LossSpec
from zoo.metrics import hole_mse


@dataclass
class NoOptions:
    """This term has no options."""


class _Pixel(nn.Module):
    """A per-pixel error, weighted by where it is: hole, known, or everywhere."""

    def __init__(self, power: int, where: str, hole_weight: float = 1.0) -> None:
        super().__init__()
        self.power, self.where, self.hole_weight = power, where, hole_weight

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        err = (pred - target).abs() if self.power == 1 else (pred - target) ** 2  # (B,3,H,W)
        if self.where == "hole":
            err = err * mask
        elif self.where == "known":
            err = err * (1 - mask)
        elif self.where == "weighted":  # hole pixels count hole_weight times
            err = err * (1 + (self.hole_weight - 1) * mask)
        return err.mean()


def _pixel(power: int, where: str, hole_weight: float = 1.0):
    return lambda config: _Pixel(power, where, hole_weight)


@dataclass
class SSIMConfig:
    """SSIM's window, as the evaluation's (7x7 Gaussian, sigma 1.5)."""

    kernel_size: int = 7
    sigma: float = 1.5

    def __post_init__(self) -> None:
        if self.kernel_size < 3 or self.kernel_size % 2 == 0:
            raise ZooError("loss_args.ssim.kernel_size must be odd and >= 3")
        if self.sigma <= 0:
            raise ZooError("loss_args.ssim.sigma must be > 0")


class SSIMLoss(nn.Module):
    """1 - SSIM over the whole image, by torchmetrics (with composited outputs the known
    pixels match exactly, so what is left is the hole and its border)."""

    def __init__(self, config: SSIMConfig) -> None:
        super().__init__()
        self.config = config

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        from torchmetrics.functional.image import structural_similarity_index_measure

        c = self.config
        ssim = structural_similarity_index_measure(
            pred, target, data_range=1.0, gaussian_kernel=True, kernel_size=c.kernel_size,
            sigma=c.sigma)
        return 1 - ssim


class TVLoss(nn.Module):
    """Total variation on the hole and a one-pixel ring around it (Liu et al. 2018): a
    smoothness prior that removes checkerboard noise without blurring the known pixels."""

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        ring = F.max_pool2d(mask, 3, stride=1, padding=1)  # (B, 1, H, W) hole dilated by 1
        dy = (pred[..., 1:, :] - pred[..., :-1, :]).abs() * ring[..., 1:, :]
        dx = (pred[..., :, 1:] - pred[..., :, :-1]).abs() * ring[..., :, 1:]
        return dy.mean() + dx.mean()


@dataclass
class PSNRConfig:
    """The dB at which an image's hole counts as solved: its squared error is floored
    there, so that near-perfect holes do not take over the gradient."""

    max_db: float = 40.0

    def __post_init__(self) -> None:
        if not 0 < self.max_db < 100:
            raise ZooError("loss_args.psnr_hole.max_db must be in (0, 100), for example 40")


class PSNRHoleLoss(nn.Module):
    """The hole PSNR that zoo ranks by, as a loss: per image, ``10 log10(1 + mse/floor)``
    with ``mse`` the image's mean squared error over its hole pixels and ``floor`` the
    mse of ``max_db``, then averaged over the batch. For a hole far from solved this is
    ``max_db`` minus its PSNR, so its gradient is the image's MSE gradient divided by its
    MSE: every image gains the same weight per dB, as the per-image mean of the metric
    counts it, where an MSE over the batch is dominated by the worst holes. 0 for a
    perfect fill or an image with no hole."""

    def __init__(self, config: PSNRConfig) -> None:
        super().__init__()
        self.floor = 10 ** (-config.max_db / 10)

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        mse = hole_mse(target.float(), pred.float(), mask.float())  # (B,); log of bf16 is coarse
        return (10 * torch.log10(1 + mse / self.floor)).mean()


@dataclass
class AdversarialConfig:
    """PatchGAN discriminator (DeepFill v2's SN-PatchGAN, scaled to small images)."""

    width: int = 64  # channels of the first layer, doubling per stride-2 layer
    layers: int = 3  # stride-2 convs: on 32x32 input a 4x4 grid of patch scores
    lr: float = 4e-4  # the discriminator's Adam learning rate (TTUR: faster than G)
    feature_matching: float = 10.0  # weight of the L1 between D's features on fake and real

    def __post_init__(self) -> None:
        if self.width < 1 or self.layers < 1:
            raise ZooError("loss_args.adv needs width >= 1 and layers >= 1")
        if not self.lr > 0 or self.feature_matching < 0:
            raise ZooError("loss_args.adv needs lr > 0 and feature_matching >= 0")


class PatchDiscriminator(nn.Module):
    """Spectral-normalised convs on (image, mask); returns every layer's features, the last
    being the (B, 1, h, w) patch scores."""

    def __init__(self, width: int, layers: int) -> None:
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm
        blocks, cin = [], 4
        for i in range(layers):
            cout = width * 2 ** min(i, 3)
            blocks.append(nn.Sequential(sn(nn.Conv2d(cin, cout, 4, stride=2, padding=1)),
                                        nn.LeakyReLU(0.2)))
            cin = cout
        blocks.append(sn(nn.Conv2d(cin, 1, 3, padding=1)))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, image: Tensor, mask: Tensor) -> list[Tensor]:
        h, feats = torch.cat([image, mask], dim=1), []  # (B, 4, H, W)
        for block in self.blocks:
            h = block(h)
            feats.append(h)
        return feats


class AdversarialLoss(nn.Module):
    """Generator side: hinge generator loss plus feature matching. ``update`` is the
    discriminator's hinge loss on a detached prediction."""

    def __init__(self, config: AdversarialConfig) -> None:
        super().__init__()
        self.config = config
        self.lr = config.lr  # read by the trainer for this term's own optimizer
        self.disc = PatchDiscriminator(config.width, config.layers)

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        fake = self.disc(pred, mask)
        loss = -fake[-1].mean()
        if self.config.feature_matching > 0:
            with torch.no_grad():
                real = self.disc(target, mask)
            fm = sum(F.l1_loss(f, r) for f, r in zip(fake[:-1], real[:-1]))
            loss = loss + self.config.feature_matching * fm / max(1, len(fake) - 1)
        return loss

    def update(self, pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        real = self.disc(target, mask)[-1]
        fake = self.disc(pred.detach(), mask)[-1]
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


@zoo.hookimpl
def zoo_register_losses(register) -> None:
    """Register the built-in loss terms."""
    for name, power, where, hw, text in (
        ("mse", 2, "all", 1.0, "mean squared error over the whole image (the paper's loss)"),
        ("l1", 1, "all", 1.0, "mean absolute error over the whole image"),
        ("hole_l1", 1, "weighted", 6.0, "L1 with hole pixels weighted 6x (= l1_hole:6+l1_known:1)"),
        ("l1_hole", 1, "hole", 1.0, "L1 on hole pixels, normalised by all pixels"),
        ("l1_known", 1, "known", 1.0, "L1 on known pixels, normalised by all pixels"),
        ("l2_hole", 2, "hole", 1.0, "squared error on hole pixels, normalised by all pixels"),
        ("l2_known", 2, "known", 1.0, "squared error on known pixels, normalised by all pixels"),
    ):
        register(LossSpec(name, NoOptions, _pixel(power, where, hw), text))
    register(LossSpec("ssim", SSIMConfig, SSIMLoss,
                      "1 - SSIM (torchmetrics; 7x7 Gaussian window as the evaluation)"))
    register(LossSpec("tv", NoOptions, lambda config: TVLoss(),
                      "total variation on the hole and its 1-pixel border"))
    register(LossSpec("psnr_hole", PSNRConfig, PSNRHoleLoss,
                      "about max_db - hole PSNR, per image then averaged (the metric zoo ranks by)"))
    register(LossSpec("adv", AdversarialConfig, AdversarialLoss,
                      "SN-PatchGAN hinge loss + discriminator feature matching (DeepFill v2)"))

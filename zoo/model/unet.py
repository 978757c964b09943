"""The configurable inpainting U-Net, with an optional fused encoder merged at the bottleneck.

With ``UNetConfig()`` defaults this is the paper's reference model (umar07/image-inpainting,
``model/unet.py``), layer for layer:

    conv3x3 -> 64, ReLU (skip A)  | maxpool 2 | BatchNorm | Dropout 0.5      (32 -> 16)
    conv3x3 -> 128, ReLU (skip B) | maxpool 2 | BatchNorm | Dropout 0.5      (16 -> 8)
    middle: conv3x3 -> 256, ReLU  (+ fused encoder features, resized to 8x8)
    convT 3x3 s2 -> 128, + skip B, Dropout 0.5
    convT 3x3 s2 -> 64,  + skip A, Dropout 0.5
    conv3x3 -> 3, sigmoid

The reference's Conv2DTranspose layers have no activation (Keras' default is linear), so
the upsampling here has none either; the bilinear option mirrors that.

The U-Net only reads ``encoder.out_channels`` and ``encoder.output_size(h, w)``; it never
asks which encoder it holds. ``out_channels == 0`` means no fusion at all.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.config import UNetConfig
from zoo.errors import ZooError
from zoo.model._fill import pushpull_fill
from zoo.model._blocks import (FUSIONS, activation, bottleneck_blocks, conv_layer, norm,
                               resize_to)

_SEARCH_STEPS = 64  # how far (in multiples of 2**depth) to look for a valid size to suggest


class InpaintUNet(nn.Module):
    """U-Net inpainter: ``forward(masked, mask) -> (B, 3, H, W)`` in 0..1.

    ``masked`` is (B, 3, H, W) in 0..1 with the hole zeroed; ``mask`` is (B, 1, H, W) with
    1 marking the hole. ``encoder`` is a fusion encoder (see ``zoo.plugin.hookspecs.EncoderSpec``)
    built for ``self.in_channels`` inputs, or None for no fusion.
    """

    def __init__(self, config: UNetConfig, encoder: nn.Module | None = None) -> None:
        super().__init__()
        self.config = config
        c = config
        w = c.widths
        self.in_channels = 4 if c.mask_channel else 3
        self.multiple = 2**c.depth

        self.down = nn.ModuleList()  # each level's convs; their output is that level's skip
        self.pools = nn.ModuleList()  # maxpool, norm, dropout (the reference's order)
        cin = self.in_channels
        for i in range(c.depth):
            layers: list[nn.Module] = []
            for _ in range(c.convs_per_level):
                layers += [conv_layer(c.conv, cin, w[i]), activation(c.activation)]
                cin = w[i]
            self.down.append(nn.Sequential(*layers))
            self.pools.append(nn.Sequential(nn.MaxPool2d(2), norm(c.norm, w[i]), nn.Dropout(c.dropout)))

        middle: list[nn.Module] = []
        for _ in range(c.convs_per_level):
            middle += [conv_layer(c.conv, cin, w[-1]), activation(c.activation)]
            cin = w[-1]
        self.middle = nn.Sequential(*middle)
        # after the fusion, so the large receptive field also spreads the fused features
        self.blocks = bottleneck_blocks(c.bottleneck, c.bottleneck_blocks, w[-1], c.conv,
                                        c.norm, c.activation)

        self.encoder = encoder
        enc_channels = int(getattr(encoder, "out_channels", 0)) if encoder is not None else 0
        self.fusion = FUSIONS[c.fusion_merge](w[-1], enc_channels) if enc_channels > 0 else None

        self.up = nn.ModuleList()
        self.post = nn.ModuleList()  # dropout then the optional extra convs, after each skip merge
        for i in reversed(range(c.depth)):
            if c.upsample == "transposed":
                # k3 s2 p1 op1 doubles the size exactly, as Keras' Conv2DTranspose(padding="same")
                up: nn.Module = nn.ConvTranspose2d(cin, w[i], 3, stride=2, padding=1, output_padding=1)
            else:
                up = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                                   conv_layer(c.conv, cin, w[i]))
            self.up.append(up)
            cin = w[i] * (2 if c.skip_merge == "concat" else 1)
            post: list[nn.Module] = [nn.Dropout(c.dropout)]
            for _ in range(c.decoder_convs):
                post += [conv_layer(c.conv, cin, w[i]), activation(c.activation)]
                cin = w[i]
            self.post.append(nn.Sequential(*post))
        self.head = nn.Conv2d(cin, 3, 3, padding=1)  # plain: the output is not gated
        self._fits: set[tuple[int, int]] = set()  # sizes already checked (not state: a cache)

    # ---- sizes ---------------------------------------------------------------------------

    def _encoder_accepts(self, h: int, w: int) -> bool:
        if self.encoder is None:
            return True
        try:
            self.encoder.output_size(h, w)
        except ZooError:
            return False
        return True

    def _fits_size(self, h: int, w: int) -> bool:
        return h % self.multiple == 0 and w % self.multiple == 0 and self._encoder_accepts(h, w)

    def _valid_dim(self, n: int, direction: int) -> int | None:
        """The nearest side length at or beyond ``n`` in ``direction`` (-1 down, +1 up) that
        the depth and the encoder take (checked square; the pair is re-checked)."""
        m = self.multiple
        n = (n // m) * m if direction < 0 else -(-n // m) * m
        for _ in range(_SEARCH_STEPS):
            if n <= 0:
                return None
            if self._fits_size(n, n):
                return n
            n += direction * m
        return None

    def valid_sizes(self, h: int, w: int) -> list[tuple[int, int]]:
        """The nearest sizes (below, above) this model takes, for an input of h x w."""
        found: list[tuple[int, int]] = []
        for direction in (-1, 1):
            vh, vw = self._valid_dim(h, direction), self._valid_dim(w, direction)
            if vh and vw and self._fits_size(vh, vw) and (vh, vw) not in found:
                found.append((vh, vw))
        return found

    def check_size(self, h: int, w: int) -> None:
        """Raise a ZooError naming the nearest valid sizes when h x w cannot be taken."""
        if (h, w) in self._fits:
            return
        if h % self.multiple or w % self.multiple:
            why = (f"does not fit depth {self.config.depth} "
                   f"(needs multiples of {self.multiple})")
        else:
            try:
                if self.encoder is not None:
                    self.encoder.output_size(h, w)
                self._fits.add((h, w))
                return
            except ZooError as exc:
                why = f"does not fit the fusion encoder ({exc})"
        options = " or ".join(f"{a}x{b}" for a, b in self.valid_sizes(h, w))
        use = f"use {options}, or set" if options else "set"
        raise ZooError(f"input {h}x{w} {why}: {use} unet.pad_input=true")

    def padded_size(self, h: int, w: int) -> tuple[int, int]:
        """The size an h x w input is padded to under ``pad_input`` (the next valid one)."""
        if self._fits_size(h, w):
            return h, w
        vh, vw = self._valid_dim(h, 1), self._valid_dim(w, 1)
        if not (vh and vw and self._fits_size(vh, vw)):
            raise ZooError(f"no size at or above {h}x{w} fits this model (depth "
                           f"{self.config.depth} and its fusion encoder); resize the input")
        return vh, vw

    # ---- forward ---------------------------------------------------------------------------

    def forward(self, masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) masked image + (B, 1, H, W) hole mask -> (B, 3, H, W) in 0..1."""
        if masked.dim() != 4 or masked.shape[1] != 3 or mask.shape != (masked.shape[0], 1,
                                                                       *masked.shape[2:]):
            raise ZooError(f"expected masked (B, 3, H, W) and mask (B, 1, H, W), got "
                           f"{tuple(masked.shape)} and {tuple(mask.shape)}")
        x = masked
        if self.config.prefill == "pushpull":  # a first guess in the hole, to be corrected
            x = pushpull_fill(masked * (1 - mask), mask)
        base = x  # what a residual output corrects
        x = torch.cat([x, mask], dim=1) if self.config.mask_channel else x
        h, w = x.shape[-2:]
        ph = pw = 0
        if torch.compiler.is_compiling():
            # no python-side checks (or encoder probes) inside a compiled graph; pad only
            # for the depth, which the eager path has already shown the encoder accepts
            if self.config.pad_input:
                ph, pw = -h % self.multiple, -w % self.multiple
        elif self.config.pad_input:
            th, tw = self.padded_size(h, w)
            ph, pw = th - h, tw - w
        else:
            self.check_size(h, w)
        if ph or pw:
            pads = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)  # centred: edges stay alike
            mode = "reflect" if max(pads[:2]) < w and max(pads[2:]) < h else "replicate"
            x = F.pad(x, pads, mode=mode)
        out = self._net(x)  # (B, 3, H, W) logits
        if ph or pw:
            out = out[..., ph // 2: ph // 2 + h, pw // 2: pw // 2 + w]
        if self.config.output == "residual":
            out = out + torch.logit(base.clamp(0, 1), eps=1e-3)
        out = torch.sigmoid(out)
        if self.config.composite:  # known pixels are copied through exactly
            out = masked * (1 - mask) + out * mask
        return out

    def _net(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        h = x  # (B, in_channels, H, W)
        for block, pool in zip(self.down, self.pools):
            h = block(h)
            skips.append(h)  # (B, widths[i], H / 2**i, W / 2**i)
            h = pool(h)
        h = self.middle(h)  # (B, widths[-1], H / 2**depth, W / 2**depth)
        if self.fusion is not None:
            f = self.encoder(x)  # (B, encoder.out_channels, h2, w2)
            h = self.fusion(h, resize_to(f, (h.shape[-2], h.shape[-1])))
        h = self.blocks(h)  # identity unless unet.bottleneck is set
        for up, post, skip in zip(self.up, self.post, reversed(skips)):
            h = up(h)
            h = h + skip if self.config.skip_merge == "add" else torch.cat([h, skip], dim=1)
            h = post(h)
        return self.head(h)  # (B, 3, H, W) logits

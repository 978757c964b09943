"""The container every dataset loader returns."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass
class Splits:
    """Train / validation / test images: uint8 CPU tensors ``(N, 3, H, W)``, contiguous."""

    train: Tensor
    val: Tensor
    test: Tensor

    def limit(self, train: int | None = None, val: int | None = None,
              test: int | None = None) -> Splits:
        """The first ``train`` / ``val`` / ``test`` images of each split (None keeps all)."""
        return Splits(
            train=self.train[:train] if train else self.train,
            val=self.val[:val] if val else self.val,
            test=self.test[:test] if test else self.test,
        )

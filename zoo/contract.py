"""The plugin contract, at its old path: a re-export of ``zoo.plugin.contract``'s public
names and of ``zoo.plugin.kinds.check`` (kept for code outside zoo; zoo itself imports
``zoo.plugin.contract``)."""

from zoo.plugin.contract import (ContractError, check_defaults, check_encoder,
                                 check_encoder_output, check_loss, check_mask,
                                 check_mask_output, probe_encoder, verify_encoder)
from zoo.plugin.kinds import check

__all__ = ["ContractError", "check", "check_defaults", "check_encoder", "check_encoder_output",
           "check_loss", "check_mask", "check_mask_output", "probe_encoder", "verify_encoder"]

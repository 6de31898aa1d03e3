"""The multisig template (``genvm/templates/multisig``): k of n keys (n <= 10), spawn and spend."""

from __future__ import annotations

from spacemesh_core.crypto.address import MULTISIG_TEMPLATE_ADDRESS
from spacemesh_core.vm.multisig import MultisigTemplateBase


class MultisigTemplate(MultisigTemplateBase):
    """k-of-n account; gas grows with the keys held and the signatures required."""

    address = MULTISIG_TEMPLATE_ADDRESS
    name = "multisig"
    description = "k of n ed25519 keys, up to 10 (template 2)"

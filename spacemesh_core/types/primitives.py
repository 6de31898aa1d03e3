"""Sizes, SCALE layouts and constants shared by the wire types (go-spacemesh ``common/types``).

Integer ids (layer, epoch, round) are plain ``int`` values encoded as compact u32; hashes, ids,
keys and signatures are ``bytes`` of the fixed sizes below.
"""

from __future__ import annotations

from typing import Final

from spacemesh_core.codec.scale import U32, Bytes
from spacemesh_core.crypto.signing import Domain

HASH20_SIZE: Final = 20
HASH32_SIZE: Final = 32
ATX_ID_SIZE: Final = 32
NODE_ID_SIZE: Final = 32  # an ed25519 public key
ADDRESS_SIZE: Final = 24  # 4 reserved zero bytes || 20 bytes of a BLAKE3 digest
ED_SIGNATURE_SIZE: Final = 64
VRF_SIGNATURE_SIZE: Final = 80  # the ECVRF proof pi = Gamma(32) || c(16) || s(32)
BEACON_SIZE: Final = 4
BALLOT_ID_SIZE: Final = HASH20_SIZE
PROPOSAL_ID_SIZE: Final = HASH20_SIZE
BLOCK_ID_SIZE: Final = HASH20_SIZE
TRANSACTION_ID_SIZE: Final = HASH32_SIZE

#: SCALE layouts of the fixed-size byte arrays.
HASH20: Final = Bytes(HASH20_SIZE)
HASH32: Final = Bytes(HASH32_SIZE)
ATX_ID: Final = Bytes(ATX_ID_SIZE)
NODE_ID: Final = Bytes(NODE_ID_SIZE)
ADDRESS: Final = Bytes(ADDRESS_SIZE)
ED_SIGNATURE: Final = Bytes(ED_SIGNATURE_SIZE)
VRF_SIGNATURE: Final = Bytes(VRF_SIGNATURE_SIZE)
BEACON: Final = Bytes(BEACON_SIZE)
BALLOT_ID: Final = Bytes(BALLOT_ID_SIZE)
PROPOSAL_ID: Final = Bytes(PROPOSAL_ID_SIZE)
BLOCK_ID: Final = Bytes(BLOCK_ID_SIZE)
TRANSACTION_ID: Final = Bytes(TRANSACTION_ID_SIZE)

#: ``LayerID``, ``EpochID`` and ``RoundID`` are ``uint32`` in the reference: compact u32.
LAYER_ID: Final = U32
EPOCH_ID: Final = U32
ROUND_ID: Final = U32

EMPTY_HASH32: Final = bytes(HASH32_SIZE)
EMPTY_ATX_ID: Final = bytes(ATX_ID_SIZE)
EMPTY_BALLOT_ID: Final = bytes(BALLOT_ID_SIZE)
EMPTY_BLOCK_ID: Final = bytes(BLOCK_ID_SIZE)


#: The one-byte signing domains (protocol.md §1.4), shared with :mod:`spacemesh_core.crypto.signing`.
#: Each signed wire type names its domain in a ``SIGNING_DOMAIN`` class attribute.
SigningDomain = Domain

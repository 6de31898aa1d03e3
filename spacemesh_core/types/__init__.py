"""Wire types of the protocol: attrs classes with their SCALE layout, ids and signed bytes.

One module per family: :mod:`~spacemesh_core.types.atx`, :mod:`~spacemesh_core.types.poet`,
:mod:`~spacemesh_core.types.ballot`, :mod:`~spacemesh_core.types.block`,
:mod:`~spacemesh_core.types.hare`, :mod:`~spacemesh_core.types.beacon`,
:mod:`~spacemesh_core.types.tx`, :mod:`~spacemesh_core.types.malfeasance`,
:mod:`~spacemesh_core.types.checkpoint` (JSON, not SCALE) and
:mod:`~spacemesh_core.types.vrf_messages`; shared sizes and layouts live in
:mod:`~spacemesh_core.types.primitives`.

``get_signed_bytes()`` returns the exact message bytes the reference signs **without** the
genesis-id prefix and domain byte: :mod:`spacemesh_core.crypto.signing` adds those. The domain
each type is signed under is its ``SIGNING_DOMAIN`` class attribute.
"""

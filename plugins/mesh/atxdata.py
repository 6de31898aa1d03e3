"""What consensus needs of the stored ATXs: per-epoch :class:`AtxInfo` (weights, VRF nonces, tick
heights) and coinbases, derived from the ATX bytes in the state database and cached per epoch."""

from __future__ import annotations

from spacemesh_core.codec.scale import decode
from spacemesh_core.consensus.eligibility import AtxInfo
from spacemesh_core.storage.state import AtxRecord, StateStore
from spacemesh_core.types.atx import ActivationTxV1


class AtxData:
    """Reads ATXs from ``state`` and derives the fields eligibility and rewards use."""

    def __init__(self, state: StateStore, golden_atx: bytes) -> None:
        self.state = state
        self.golden_atx = golden_atx
        self._decoded: dict[bytes, ActivationTxV1] = {}
        self._tick_height: dict[bytes, int] = {}
        self._vrf_nonce: dict[bytes, int] = {}

    def get_atx(self, atx_id: bytes) -> tuple[AtxRecord, ActivationTxV1] | None:
        """Return the stored record and decoded ATX, or None when unknown."""
        record = self.state.get_atx(atx_id)
        if record is None:
            return None
        atx = self._decoded.get(atx_id)
        if atx is None:
            atx = self._decoded[atx_id] = decode(ActivationTxV1, record.blob)
        return record, atx

    def get_tick_height(self, atx_id: bytes) -> int:
        """Return an ATX's tick height: its positioning ATX's height plus its own tick count."""
        if atx_id == self.golden_atx:
            return 0
        cached = self._tick_height.get(atx_id)
        if cached is not None:
            return cached
        chain: list[tuple[bytes, int]] = []
        current = atx_id
        base = 0
        while current != self.golden_atx:  # iterate, not recurse: chains grow every epoch
            if current in self._tick_height:
                base = self._tick_height[current]
                break
            found = self.get_atx(current)
            if found is None:
                break
            record, atx = found
            chain.append((current, record.tick_count))
            current = atx.inner.challenge.positioning_atx_id
        for link, ticks in reversed(chain):
            base += ticks
            self._tick_height[link] = base
        return self._tick_height.get(atx_id, 0)

    def get_vrf_nonce(self, atx_id: bytes) -> int | None:
        """Return the VRF nonce in force for an ATX (its own, or inherited along its previous ATXs)."""
        current = atx_id
        seen: list[bytes] = []
        nonce: int | None = None
        while True:
            if current in self._vrf_nonce:
                nonce = self._vrf_nonce[current]
                break
            found = self.get_atx(current)
            if found is None:
                break
            atx = found[1]
            seen.append(current)
            if atx.inner.vrf_nonce is not None:
                nonce = atx.inner.vrf_nonce
                break
            current = atx.inner.challenge.prev_atx_id
        if nonce is not None:
            for link in seen:
                self._vrf_nonce[link] = nonce
        return nonce

    def get_info(self, atx_id: bytes) -> AtxInfo | None:
        """Return consensus's view of an ATX, or None when unknown or without a VRF nonce."""
        found = self.get_atx(atx_id)
        if found is None:
            return None
        record = found[0]
        nonce = self.get_vrf_nonce(atx_id)
        if nonce is None:
            return None
        height = self.get_tick_height(atx_id)
        return AtxInfo(
            atx_id,
            record.node_id,
            record.publish_epoch,
            record.weight,
            record.num_units,
            nonce,
            height - record.tick_count,
            height,
            record.received,
        )

    def get_epoch_infos(self, target_epoch: int) -> dict[bytes, AtxInfo]:
        """Return the ATXs that give eligibility in ``target_epoch`` (published in the epoch before)."""
        infos = {}
        for atx_id in self.state.get_atx_ids_in_epoch(target_epoch - 1):
            info = self.get_info(atx_id)
            if info is not None:
                infos[atx_id] = info
        return infos

    def get_coinbase(self, atx_id: bytes) -> bytes | None:
        """Return the reward address an ATX names."""
        found = self.get_atx(atx_id)
        return None if found is None else bytes(found[1].inner.coinbase)

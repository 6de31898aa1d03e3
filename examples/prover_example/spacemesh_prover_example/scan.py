"""A proving-scan backend written with NumPy and one OpenSSL AES-ECB call per block and nonce group.

What any ``prover`` backend must reproduce (see ``spacemesh_core.post.prove_reference``): for nonce
``n`` of group ``g`` a stored label qualifies when ``C_g[n % 16] << 56 | low56(AES_{K_n}(label))`` is
below the difficulty, ``C_g`` being the label encrypted with the group key; the winner of a pass is
the first nonce to collect ``k2`` labels in the reference's discovery order: chunks of 8 labels
(aligned on the absolute index), within a chunk group by group, label by label, nonce by nonce.

This backend computes, per block of labels, a boolean matrix "label qualifies for nonce" for every
nonce of the pass at once, then finds where each nonce's running count reaches ``k2``. The winner is
the nonce whose ``k2``-th hit comes first in discovery order, i.e. the smallest key
``(chunk, group position, label index, nonce % 16)``. Blocks hold whole chunks, so every event of a
block precedes every event of the next one and the search can stop at the first block with a winner.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from spacemesh_core.post.k2pow import RandomXK2PowSolver
from spacemesh_core.post.proof import ProofParameterError, split_proving_difficulty, verify_nonce_range
from spacemesh_core.post.prove_reference import ScanResult, compute_group_key, compute_nonce_key
from spacemesh_core.post.prover import LabelSegment, PostProver, ProvingStoppedError
from spacemesh_core.post.store import PostDataError

LABEL_SIZE = 16
NONCES_PER_GROUP = 16
CHUNK_LABELS = 8
#: labels per block (a multiple of CHUNK_LABELS): bounds memory to about BLOCK_LABELS * nonces bytes
BLOCK_LABELS = 1 << 14
_LSB_MASK = (1 << 56) - 1


def _encrypt(key: bytes, data: bytes) -> np.ndarray:
    """AES-128-ECB of ``data`` (whole 16-byte blocks) as a ``(blocks, 16)`` uint8 array."""
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    out = encryptor.update(data) + encryptor.finalize()
    return np.frombuffer(out, dtype=np.uint8).reshape(-1, LABEL_SIZE)


def _as_labels(segment: LabelSegment) -> np.ndarray:
    raw = np.frombuffer(memoryview(segment.data).cast("B"), dtype=np.uint8)
    if raw.size % LABEL_SIZE:
        raise PostDataError(f"segment at label {segment.first_index} is not a whole number of labels")
    return raw.reshape(-1, LABEL_SIZE)


def _iter_blocks(segments: Sequence[LabelSegment]) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(first index, labels)`` blocks that end on multiples of BLOCK_LABELS (whole chunks),
    joining the pieces of contiguous segments."""
    arrays = [(s.first_index, _as_labels(s)) for s in segments]
    start = arrays[0][0]
    end = arrays[-1][0] + len(arrays[-1][1])
    position = start
    while position < end:
        stop = min(end, (position // BLOCK_LABELS + 1) * BLOCK_LABELS)
        pieces = [
            labels[max(position, first) - first : min(stop, first + len(labels)) - first]
            for first, labels in arrays
            if first < stop and first + len(labels) > position
        ]
        yield position, pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
        position = stop


def _check_arguments(
    segments: Sequence[LabelSegment], challenge: bytes, nonce_start: int, nonce_end: int,
    pows: Mapping[int, int], difficulty: int, k2: int,
) -> list[int]:
    """Reject what the reference rejects; return the nonce groups of the pass."""
    if len(challenge) != 32:
        raise ProofParameterError(f"challenge must be 32 bytes, got {len(challenge)}")
    if k2 < 1:
        raise ProofParameterError(f"k2 must be >= 1, got {k2}")
    if not 0 <= difficulty < (1 << 64):
        raise ProofParameterError(f"difficulty must be a u64, got {difficulty}")
    verify_nonce_range(nonce_start, nonce_end)
    groups = list(range(nonce_start // NONCES_PER_GROUP, nonce_end // NONCES_PER_GROUP))
    missing = [g for g in groups if g not in pows]
    if missing:
        raise ProofParameterError(f"no k2pow given for nonce group(s) {missing}")
    expected = segments[0].first_index if segments else 0
    for segment in segments:
        if segment.first_index != expected:
            raise PostDataError(f"label segments are not contiguous at label {expected}")
        expected += len(_as_labels(segment))
    return groups


class NumpyScanBackend:
    """The proving scan as NumPy array operations (a ``ScanBackend`` of ``spacemesh_core.post.prover``)."""

    name = "numpy"

    def scan(
        self,
        segments: Sequence[LabelSegment],
        challenge: bytes,
        nonce_start: int,
        nonce_end: int,
        pows: Mapping[int, int],
        difficulty: int,
        k2: int,
        *,
        progress: Callable[[int, int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> ScanResult | None:
        """Return the first nonce (reference order) of the pass to collect ``k2`` labels, or None.

        :raises ProofParameterError: bad challenge, nonce range, pows, difficulty or k2.
        :raises PostDataError: segments that are not contiguous or not whole labels.
        :raises ProvingStoppedError: ``should_stop`` returned True.
        """
        groups = _check_arguments(segments, challenge, nonce_start, nonce_end, pows, difficulty, k2)
        total = sum(len(_as_labels(s)) for s in segments)
        if total == 0:
            return None
        msb_bound, lsb_bound = split_proving_difficulty(difficulty)
        group_keys = [compute_group_key(challenge, g, pows[g]) for g in groups]
        nonces = np.array([g * NONCES_PER_GROUP + j for g in groups for j in range(NONCES_PER_GROUP)])
        counts = np.zeros(len(nonces), dtype=np.int64)
        hits: list[list[int]] = [[] for _ in nonces]
        done = 0
        for first, block in _iter_blocks(segments):
            if should_stop is not None and should_stop():
                raise ProvingStoppedError("proving was stopped")
            qualifies = self._qualify(block, challenge, groups, group_keys, pows, msb_bound, lsb_bound)
            running = counts + np.cumsum(qualifies, axis=0, dtype=np.int64)
            reached = running[-1] >= k2
            if reached.any():
                columns = np.nonzero(reached)[0]
                rows = np.argmax(running[:, columns] >= k2, axis=0)
                indices = first + rows
                # discovery order: chunk, then group position, then label, then nonce within the group
                keys = np.lexsort(
                    (columns % NONCES_PER_GROUP, indices, columns // NONCES_PER_GROUP, indices // CHUNK_LABELS)
                )
                column = int(columns[keys[0]])
                row = int(rows[keys[0]])
                extra = first + np.nonzero(qualifies[: row + 1, column])[0]
                found = hits[column] + [int(i) for i in extra]
                return ScanResult(int(nonces[column]), tuple(found[:k2]))
            for hit_column in np.nonzero(qualifies.any(axis=0))[0]:
                hits[int(hit_column)].extend(int(i) for i in first + np.nonzero(qualifies[:, hit_column])[0])
            counts = running[-1]
            done += len(block)
            if progress is not None:
                progress(done, total)
        return None

    @staticmethod
    def _qualify(
        block: np.ndarray,
        challenge: bytes,
        groups: list[int],
        group_keys: list[bytes],
        pows: Mapping[int, int],
        msb_bound: int,
        lsb_bound: int,
    ) -> np.ndarray:
        """``(labels, nonces)`` bool matrix: whether each label of the block qualifies for each nonce."""
        data = block.tobytes()
        columns = []
        for group, key in zip(groups, group_keys, strict=True):
            msb = _encrypt(key, data)  # byte j of label i's cipher text serves nonce 16*group + j
            qualifies = msb < msb_bound
            # a tie on the top byte: the per-nonce cipher decides on the low 56 bits
            for j in np.nonzero((msb == msb_bound).any(axis=0))[0]:
                tied = np.nonzero(msb[:, j] == msb_bound)[0]
                nonce = group * NONCES_PER_GROUP + int(j)
                lazy = _encrypt(compute_nonce_key(challenge, group, pows[group], nonce), block[tied].tobytes())
                low = lazy[:, :8].copy().view("<u8").reshape(-1) & np.uint64(_LSB_MASK)
                qualifies[tied, j] = low < np.uint64(lsb_bound)
            columns.append(qualifies)
        return np.concatenate(columns, axis=1)


def create_numpy_prover(randomx_mode: str = "auto", threads: int | None = None) -> PostProver:
    """The ``prover``/``numpy`` factory: this scan plus the core's RandomX k2pow solver."""
    solver: Any = RandomXK2PowSolver(randomx_mode, threads)  # type: ignore[arg-type]
    return PostProver(NumpyScanBackend(), solver)

"""Native (C, cffi) PoST labels: SIMD lanes with run-time dispatch, threads, the GIL released.

The C module ``spacemesh_core._native_labels`` (``native/scrypt_labels.c``) computes several labels at
once, one per SIMD lane (AVX-512F: 16, AVX2: 8, SSE2: 4, portable scalar fallback: 1), on a pool of
threads over the index range, and searches the VRF nonce (the smallest 32-byte output strictly below a
bound) in the same pass. cffi releases the GIL for the whole call, so other Python threads keep running.

It must agree byte for byte with the readable reference in :mod:`spacemesh_core.post.labels`.

The environment variable ``SPACEMESH_LABELS_ISA`` (``scalar``, ``sse2``, ``avx2``, ``avx512``) forces a
kernel, e.g. to compare them; by default the widest one the CPU supports is used.
"""

from __future__ import annotations

import os
from typing import Any

from spacemesh_core.post.labels import (
    COMMITMENT_SIZE,
    ENTIRE_LABEL_SIZE,
    LabelParameterError,
    VrfNonce,
    is_power_of_two,
)

try:
    from spacemesh_core._native_labels import ffi, lib
except ImportError as _exc:  # pragma: no cover - only when the extension was not built
    raise ImportError(
        "the native label module spacemesh_core._native_labels is not built; run `pip install -e .`"
    ) from _exc

#: kernel names -> the C enum values, in increasing preference
ISA_CODES: dict[str, int] = {
    "scalar": lib.SM_ISA_SCALAR,
    "sse2": lib.SM_ISA_SSE2,
    "avx2": lib.SM_ISA_AVX2,
    "avx512": lib.SM_ISA_AVX512,
}
ENV_ISA = "SPACEMESH_LABELS_ISA"
_MAX_U64 = (1 << 64) - 1


class NativeLabelsError(RuntimeError):
    """The native label code failed (a kernel the CPU lacks, thread or memory failure)."""


def get_supported_isas() -> list[str]:
    """Return the kernel names this CPU can run, narrowest first (``scalar`` is always there)."""
    return [name for name, code in ISA_CODES.items() if lib.sm_labels_is_isa_supported(code)]


def get_best_isa() -> str:
    """Return the name of the widest kernel this CPU supports."""
    best = lib.sm_labels_get_best_isa()
    return next(name for name, code in ISA_CODES.items() if code == best)


def get_isa_lanes(isa: str) -> int:
    """Return how many labels kernel ``isa`` computes at once.

    :raises LabelParameterError: for an unknown kernel name.
    """
    return lib.sm_labels_get_lanes(_get_isa_code(isa))


def get_default_isa() -> str:
    """Return the kernel used when none is named: ``$SPACEMESH_LABELS_ISA`` or the widest supported."""
    forced = os.environ.get(ENV_ISA, "").strip().lower()
    return forced if forced else get_best_isa()


def _get_isa_code(isa: str | None) -> int:
    name = get_default_isa() if isa is None else isa
    if name not in ISA_CODES:
        raise LabelParameterError(f"unknown label kernel {name!r}; choose one of: {', '.join(ISA_CODES)}")
    return ISA_CODES[name]


def _verify_range(commitment: bytes, start: int, count: int, scrypt_n: int) -> None:
    if len(commitment) != COMMITMENT_SIZE:
        raise LabelParameterError(f"commitment must be {COMMITMENT_SIZE} bytes, got {len(commitment)}")
    if count < 0:
        raise LabelParameterError(f"label count must be >= 0, got {count}")
    if start < 0 or start + max(count - 1, 0) > _MAX_U64:
        raise LabelParameterError(f"label indices must be u64, got start={start} count={count}")
    if scrypt_n < 2 or not is_power_of_two(scrypt_n) or scrypt_n >= 1 << 32:
        raise LabelParameterError(f"scrypt N must be a power of two >= 2 (and < 2^32), got {scrypt_n}")


def _raise_for(rc: int, what: str) -> None:
    if rc == lib.SM_ERR_PARAMS:
        raise LabelParameterError(f"{what}: parameters rejected by the native code")
    if rc == lib.SM_ERR_MEMORY:
        raise MemoryError(f"{what}: not enough memory for the scrypt scratch")
    if rc == lib.SM_ERR_ISA:
        raise NativeLabelsError(f"{what}: this CPU does not support the requested kernel")
    if rc < 0:
        raise NativeLabelsError(f"{what}: native error {rc}")


def compute_labels_native_into(
    out: Any,
    commitment: bytes,
    start: int,
    count: int,
    scrypt_n: int,
    *,
    label_size: int = ENTIRE_LABEL_SIZE,
    bound: bytes | None = None,
    threads: int | None = None,
    isa: str | None = None,
) -> VrfNonce | None:
    """Compute labels ``start .. start+count-1`` into the writable buffer ``out`` (GIL released).

    :param out: a writable buffer (bytearray, memoryview, numpy array, mmap) of at least
        ``count * label_size`` bytes; label k's first ``label_size`` bytes go to ``out[k*label_size:]``.
    :param label_size: bytes kept per label: 16 (what is stored on disk) or 32 (the full output).
    :param bound: when given (32 bytes), also search the smallest full output strictly below it.
    :param threads: worker threads (None: one per CPU).
    :param isa: kernel name (None: :func:`get_default_isa`).
    :return: the best VRF-nonce candidate below ``bound`` in this range, or None.
    :raises LabelParameterError: bad commitment, range, N, label size, bound or buffer size.
    :raises NativeLabelsError: the kernel is not supported here or the native code failed.
    """
    _verify_range(commitment, start, count, scrypt_n)
    if not 1 <= label_size <= ENTIRE_LABEL_SIZE:
        raise LabelParameterError(f"label_size must be 1..{ENTIRE_LABEL_SIZE}, got {label_size}")
    if bound is not None and len(bound) != ENTIRE_LABEL_SIZE:
        raise LabelParameterError(f"bound must be {ENTIRE_LABEL_SIZE} bytes, got {len(bound)}")
    if threads is not None and threads < 0:
        raise LabelParameterError(f"threads must be >= 0, got {threads}")
    try:
        target = ffi.from_buffer("uint8_t[]", out, require_writable=True)
    except (TypeError, BufferError):
        raise LabelParameterError("the output must be a writable buffer (bytearray, numpy array, mmap)") from None
    if len(target) < count * label_size:
        raise LabelParameterError(f"output buffer holds {len(target)} bytes, {count * label_size} needed")
    nonce_index = ffi.new("uint64_t *")
    nonce_value = ffi.new("uint8_t[32]")
    rc = lib.sm_compute_labels(
        bytes(commitment),
        start,
        count,
        scrypt_n,
        _get_isa_code(isa),
        threads or 0,
        target,
        label_size,
        bytes(bound) if bound is not None else ffi.NULL,
        nonce_index,
        nonce_value,
    )
    _raise_for(rc, "computing labels")
    return VrfNonce(int(nonce_index[0]), bytes(ffi.buffer(nonce_value))) if rc == 1 else None


def compute_labels_native(
    commitment: bytes,
    start: int,
    count: int,
    scrypt_n: int,
    threads: int | None = None,
    *,
    isa: str | None = None,
) -> bytes:
    """Return the full 32-byte outputs of labels ``start .. start+count-1`` (count*32 bytes).

    :raises LabelParameterError: bad commitment, range or N.
    :raises NativeLabelsError: the kernel is not supported here or the native code failed.
    """
    _verify_range(commitment, start, count, scrypt_n)
    out = bytearray(count * ENTIRE_LABEL_SIZE)
    compute_labels_native_into(out, commitment, start, count, scrypt_n, threads=threads, isa=isa)
    return bytes(out)


def compute_labels_and_nonce_native(
    commitment: bytes,
    start: int,
    count: int,
    scrypt_n: int,
    bound: bytes,
    *,
    label_size: int = ENTIRE_LABEL_SIZE,
    threads: int | None = None,
    isa: str | None = None,
) -> tuple[bytes, VrfNonce | None]:
    """Return the labels (``label_size`` bytes each) and the best output strictly below ``bound``.

    :raises LabelParameterError: bad commitment, range, N, label size or bound.
    """
    _verify_range(commitment, start, count, scrypt_n)
    if not 1 <= label_size <= ENTIRE_LABEL_SIZE:
        raise LabelParameterError(f"label_size must be 1..{ENTIRE_LABEL_SIZE}, got {label_size}")
    out = bytearray(count * label_size)
    nonce = compute_labels_native_into(
        out, commitment, start, count, scrypt_n, label_size=label_size, bound=bound, threads=threads, isa=isa
    )
    return bytes(out), nonce


def search_vrf_nonce_native(
    commitment: bytes,
    start: int,
    count: int,
    scrypt_n: int,
    difficulty: bytes,
    threads: int | None = None,
    *,
    isa: str | None = None,
) -> VrfNonce | None:
    """Return the label of the range with the smallest output strictly below ``difficulty``, or None.

    Outputs compare as big-endian byte strings; on equal outputs the lowest index wins. Nothing is stored.

    :raises LabelParameterError: bad commitment, range, N or difficulty.
    """
    _verify_range(commitment, start, count, scrypt_n)
    if len(difficulty) != ENTIRE_LABEL_SIZE:
        raise LabelParameterError(f"difficulty must be {ENTIRE_LABEL_SIZE} bytes, got {len(difficulty)}")
    nonce_index = ffi.new("uint64_t *")
    nonce_value = ffi.new("uint8_t[32]")
    rc = lib.sm_compute_labels(
        bytes(commitment),
        start,
        count,
        scrypt_n,
        _get_isa_code(isa),
        threads or 0,
        ffi.NULL,
        ENTIRE_LABEL_SIZE,
        bytes(difficulty),
        nonce_index,
        nonce_value,
    )
    _raise_for(rc, "searching the VRF nonce")
    return VrfNonce(int(nonce_index[0]), bytes(ffi.buffer(nonce_value))) if rc == 1 else None


def compute_label_baseline_native(commitment: bytes, index: int, scrypt_n: int) -> bytes:
    """Return the 32-byte output of one label with the plain one-label-at-a-time C code (no SIMD lanes).

    This is the benchmark baseline and an independent CPU cross-check of the lane kernels.

    :raises LabelParameterError: bad commitment, index or N.
    """
    _verify_range(commitment, index, 1, scrypt_n)
    out = ffi.new("uint8_t[32]")
    _raise_for(lib.sm_compute_label_one(bytes(commitment), index, scrypt_n, out), "computing a label")
    return bytes(ffi.buffer(out))


def compute_labels_baseline_native(commitment: bytes, start: int, count: int, scrypt_n: int) -> bytes:
    """Return count*32 bytes of outputs computed one label at a time on the calling thread (plain C).

    :raises LabelParameterError: bad commitment, range or N.
    """
    _verify_range(commitment, start, count, scrypt_n)
    out = ffi.new("uint8_t[]", max(count, 1) * ENTIRE_LABEL_SIZE)
    _raise_for(lib.sm_compute_labels_baseline(bytes(commitment), start, count, scrypt_n, out), "baseline")
    return bytes(ffi.buffer(out, count * ENTIRE_LABEL_SIZE))


def compute_scrypt_jane_native(password: bytes, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    """Generic scrypt-jane (Keccak-512, ChaCha20/8) in C, any power-of-two N, r, p and output length.

    :raises LabelParameterError: N not a power of two >= 2, r, p or dklen out of range.
    """
    if n < 2 or not is_power_of_two(n) or n >= 1 << 32:
        raise LabelParameterError(f"scrypt N must be a power of two >= 2, got {n}")
    if not (1 <= r <= 1 << 20 and 1 <= p <= 1 << 20 and dklen >= 1):
        raise LabelParameterError(f"scrypt r, p, dklen out of range: r={r} p={p} dklen={dklen}")
    out = ffi.new("uint8_t[]", dklen)
    rc = lib.sm_scrypt_jane(bytes(password), len(password), bytes(salt), len(salt), n, r, p, out, dklen)
    _raise_for(rc, "scrypt-jane")
    return bytes(ffi.buffer(out))


def compute_keccak512_native(data: bytes) -> bytes:
    """Return the 64-byte Keccak-512 digest (original padding) of ``data``, computed in C."""
    out = ffi.new("uint8_t[64]")
    lib.sm_keccak512(bytes(data), len(data), out)
    return bytes(ffi.buffer(out))


class NativeInitializer:
    """The native label backend: SIMD lanes, threads, the VRF-nonce search in the same pass."""

    name = "native"
    is_reference = False

    def __init__(self, threads: int | None = None, isa: str | None = None) -> None:
        """:param threads: worker threads (None: one per CPU). :param isa: kernel (None: the best)."""
        if isa is not None:
            _get_isa_code(isa)
        self.threads = threads
        self.isa = isa

    def compute_labels(self, commitment: bytes, start: int, count: int, scrypt_n: int) -> bytes:
        """Return the 32-byte outputs of labels ``start .. start+count-1``.

        :raises LabelParameterError: on a bad commitment, range or N.
        """
        return compute_labels_native(commitment, start, count, scrypt_n, self.threads, isa=self.isa)

    def compute_labels_with_nonce(
        self, commitment: bytes, start: int, count: int, scrypt_n: int, bound: bytes, label_size: int
    ) -> tuple[bytes, VrfNonce | None]:
        """Return the labels cut to ``label_size`` bytes and the best full output below ``bound``."""
        return compute_labels_and_nonce_native(
            commitment, start, count, scrypt_n, bound, label_size=label_size, threads=self.threads, isa=self.isa
        )

"""Wrapper around the native PoET module ``spacemesh_core._native_poet`` (C through cffi).

The C code runs the sequential leaf loop (SHA-NI where the CPU has it, portable C otherwise),
hashes tree layers and searches registration proof-of-work nonces. cffi releases the GIL during
each call, so a PoET round running in a worker thread leaves the event loop free.

Every function here has a pure-Python counterpart in :mod:`spacemesh_core.poet.reference`; the
tests check that both give the same bytes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any, overload

from spacemesh_core.poet.proof import PoetProof
from spacemesh_core.poet.reference import (
    LABEL_HASH_NESTING_DEPTH,
    NODE_SIZE,
    SECURITY_PARAM,
    compute_poet_proof_from_layers,
)

try:  # pragma: no cover - exercised implicitly; absent only in a source tree that was not built
    from spacemesh_core._native_poet import ffi as _ffi
    from spacemesh_core._native_poet import lib as _lib
except ImportError:  # pragma: no cover
    _ffi = None
    _lib = None

#: Implementation names accepted by ``implementation=`` arguments.
IMPLEMENTATIONS = {"auto": 0, "portable": 1, "sha-ni": 2}
#: Highest tree height the native state can hold (leaf ids are 64-bit).
MAX_HEIGHT = 64


class NativeUnavailableError(RuntimeError):
    """The native module is not built, or the requested SHA-256 implementation is not available."""


def is_native_available() -> bool:
    """Return whether the compiled module could be imported."""
    return _lib is not None


def _get_lib() -> Any:
    if _lib is None:
        raise NativeUnavailableError("spacemesh_core._native_poet is not built; run `pip install -e .` to compile it")
    return _lib


def has_sha_extensions() -> bool:
    """Return whether this CPU has the x86 SHA extensions (and the native module can use them)."""
    return bool(_get_lib().poet_has_sha_ni()) if _lib is not None else False


def get_implementation_name(implementation: str = "auto") -> str:
    """Return the SHA-256 implementation ``implementation`` resolves to: ``"sha-ni"`` or ``"portable"``."""
    code = _get_impl_code(implementation)
    if code == 0:
        return "sha-ni" if has_sha_extensions() else "portable"
    return implementation


def _get_impl_code(implementation: str) -> int:
    try:
        code = IMPLEMENTATIONS[implementation]
    except KeyError:
        raise ValueError(
            f"unknown implementation {implementation!r}; choose one of {', '.join(IMPLEMENTATIONS)}"
        ) from None
    if code == IMPLEMENTATIONS["sha-ni"] and not has_sha_extensions():
        raise NativeUnavailableError("this CPU has no SHA extensions")
    return code


def _check_rc(rc: int, what: str) -> None:
    if rc < 0:
        raise NativeUnavailableError(f"{what} failed in the native module (code {rc})")


def compute_sha256(data: bytes, implementation: str = "auto") -> bytes:
    """Return SHA-256 of ``data`` computed by the native code (for cross-checks)."""
    lib = _get_lib()
    out = _ffi.new("uint8_t[32]")
    _check_rc(lib.poet_sha256(data, len(data), out, _get_impl_code(implementation)), "sha256")
    return bytes(_ffi.buffer(out))


def compute_sha256_chain(digest: bytes, iterations: int, implementation: str = "auto") -> bytes:
    """Return ``digest`` after ``iterations`` rounds of ``h = SHA256(h)`` (32-byte ``digest``)."""
    if len(digest) != NODE_SIZE:
        raise ValueError(f"the chain works on {NODE_SIZE}-byte digests, got {len(digest)}")
    lib = _get_lib()
    buf = _ffi.new("uint8_t[32]", digest)
    _check_rc(lib.poet_sha256_chain(buf, iterations, _get_impl_code(implementation)), "sha256 chain")
    return bytes(_ffi.buffer(buf))


def compute_label_hash(
    challenge: bytes,
    data: bytes,
    nesting_depth: int = LABEL_HASH_NESTING_DEPTH,
    implementation: str = "auto",
) -> bytes:
    """Native ``Lx(data)``: SHA-256 of ``challenge || data`` nested ``nesting_depth`` times.

    :raises ValueError: inputs longer than 4096 bytes together, or a depth below 1.
    """
    if nesting_depth < 1:
        raise ValueError("the nesting depth must be at least 1")
    if len(challenge) + len(data) > 4096:
        raise ValueError("label input longer than 4096 bytes")
    lib = _get_lib()
    out = _ffi.new("uint8_t[32]")
    rc = lib.poet_label_hash(
        challenge, len(challenge), data, len(data), nesting_depth, out, _get_impl_code(implementation)
    )
    _check_rc(rc, "label hash")
    return bytes(_ffi.buffer(out))


def compute_parent_layer(statement: bytes, layer: bytes | memoryview, implementation: str = "auto") -> bytes:
    """Return the layer above ``layer`` (concatenated 32-byte nodes), hashed natively.

    A last node without a right sibling is hashed with 32 zero bytes.
    """
    if len(layer) % NODE_SIZE:
        raise ValueError("a layer is a whole number of 32-byte nodes")
    count = len(layer) // NODE_SIZE
    out = bytearray(((count + 1) // 2) * NODE_SIZE)
    if count:
        rc = _get_lib().poet_hash_layer(
            statement, _ffi.from_buffer(layer), count, _ffi.from_buffer(out), _get_impl_code(implementation)
        )
        _check_rc(rc, "layer hash")
    return bytes(out)


class ByteLayer(Sequence[bytes]):
    """A read-only sequence of 32-byte nodes over a bytes-like object (bytes, mmap, memoryview)."""

    def __init__(self, data: bytes | memoryview | Any) -> None:
        self._data = memoryview(data)
        if len(self._data) % NODE_SIZE:
            raise ValueError("a layer is a whole number of 32-byte nodes")

    def __len__(self) -> int:
        return len(self._data) // NODE_SIZE

    @overload
    def __getitem__(self, index: int) -> bytes: ...

    @overload
    def __getitem__(self, index: slice) -> list[bytes]: ...

    def __getitem__(self, index: int | slice) -> bytes | list[bytes]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("layer index out of range")
        return bytes(self._data[index * NODE_SIZE : (index + 1) * NODE_SIZE])

    def __iter__(self) -> Iterator[bytes]:
        for index in range(len(self)):
            yield self[index]


class NativeLeafChain:
    """The sequential leaf loop with its incremental-tree state, resumable from a checkpoint.

    The state is the next leaf id and the parked nodes (one per set bit of the next leaf id); with
    those, :meth:`compute_leaves` continues exactly where it stopped.
    """

    def __init__(
        self,
        statement: bytes,
        next_leaf: int = 0,
        parked: Sequence[bytes | None] | None = None,
        implementation: str = "auto",
    ) -> None:
        if len(statement) != NODE_SIZE:
            raise ValueError(f"the statement must be {NODE_SIZE} bytes, got {len(statement)}")
        if not 0 <= next_leaf < 1 << MAX_HEIGHT:
            raise ValueError(f"leaf id {next_leaf} is outside the unsigned 64-bit range")
        _get_lib()
        self.statement = bytes(statement)
        self.next_leaf = next_leaf
        self._impl = _get_impl_code(implementation)
        self._parked = _ffi.new(f"uint8_t[{MAX_HEIGHT * NODE_SIZE}]")
        given = list(parked or [])
        for height in range(MAX_HEIGHT):
            node = given[height] if height < len(given) else None
            if (next_leaf >> height) & 1:
                if node is None or len(node) != NODE_SIZE:
                    raise ValueError(f"leaf {next_leaf} needs a parked node at height {height}")
                _ffi.memmove(self._parked + height * NODE_SIZE, node, NODE_SIZE)
        self._stop = _ffi.new("int *")
        self._lock = threading.Lock()

    def get_parked_nodes(self) -> list[bytes | None]:
        """Return the parked nodes from height 0 up to the highest set bit of the next leaf id."""
        raw = bytes(_ffi.buffer(self._parked))
        return [
            raw[h * NODE_SIZE : (h + 1) * NODE_SIZE] if (self.next_leaf >> h) & 1 else None
            for h in range(self.next_leaf.bit_length())
        ]

    def request_stop(self) -> None:
        """Ask a running :meth:`compute_leaves` (in another thread) to return early."""
        self._stop[0] = 1

    def compute_leaves(self, count: int) -> bytes:
        """Compute the next ``count`` leaves (fewer if stopped); return their labels concatenated.

        Runs without the GIL. The state advances by the number of leaves returned.
        """
        if count < 0:
            raise ValueError("count must not be negative")
        with self._lock:
            self._stop[0] = 0
            out = bytearray(count * NODE_SIZE)
            done = _get_lib().poet_compute_leaves(
                self.statement,
                self.next_leaf,
                count,
                self._parked,
                _ffi.from_buffer(out),
                self._stop,
                self._impl,
            )
            _check_rc(done, "leaf computation")
            self.next_leaf += done
            return bytes(out[: done * NODE_SIZE])

    def compute_root(self) -> bytes:
        """Return the root of the tree over all leaves so far (zero padding), from the parked nodes.

        :raises ValueError: no leaves yet.
        """
        from spacemesh_core.poet.reference import IncrementalMerkleTree, make_poet_node_hasher

        tree = IncrementalMerkleTree.from_parked_nodes(
            make_poet_node_hasher(self.statement), self.next_leaf, self.get_parked_nodes()
        )
        return tree.get_root()


def compute_layers(statement: bytes, leaves: bytes, implementation: str = "auto") -> list[ByteLayer]:
    """Return every layer of the PoET tree over ``leaves`` (concatenated labels), leaves first."""
    if not leaves:
        raise ValueError("a tree needs at least one leaf")
    layers = [bytes(leaves)]
    while len(layers[-1]) > NODE_SIZE:
        layers.append(compute_parent_layer(statement, layers[-1], implementation))
    return [ByteLayer(layer) for layer in layers]


def generate_poet_proof(
    statement: bytes,
    num_leaves: int,
    security_param: int = SECURITY_PARAM,
    implementation: str = "auto",
) -> PoetProof:
    """Run the sequential work for ``num_leaves`` leaves natively (in memory) and return the proof.

    Byte-identical to :func:`spacemesh_core.poet.reference.generate_poet_proof`.
    """
    if num_leaves <= 0:
        raise ValueError(f"the number of leaves must be positive, got {num_leaves}")
    chain = NativeLeafChain(statement, implementation=implementation)
    leaves = chain.compute_leaves(num_leaves)
    layers = compute_layers(statement, leaves, implementation)
    return compute_poet_proof_from_layers(statement, layers, security_param)


def compute_ripemd256(data: bytes) -> bytes:
    """Return RIPEMD-256 of ``data`` computed natively."""
    out = _ffi.new("uint8_t[32]")
    _get_lib().poet_ripemd256(data, len(data), out)
    return bytes(_ffi.buffer(out))


def find_pow_nonce(
    pow_challenge: bytes,
    node_id: bytes,
    poet_challenge: bytes,
    difficulty: int,
    start: int = 0,
    stop_event: threading.Event | None = None,
) -> int:
    """Return the smallest nonce ``>= start`` with ``difficulty`` leading zero bits (native search).

    Searches in slices of 2^16 nonces without the GIL; ``stop_event`` aborts between slices.

    :raises InterruptedError: ``stop_event`` was set.
    :raises ValueError: difficulty outside 0..256 or inputs longer than 1024 bytes.
    """
    if not 0 <= difficulty <= 256:
        raise ValueError("difficulty must be within 0..256 bits")
    prefix = pow_challenge + node_id + poet_challenge
    if len(prefix) > 1024:
        raise ValueError("proof-of-work input longer than 1024 bytes")
    lib = _get_lib()
    found = _ffi.new("uint64_t *")
    nonce = start
    while True:
        if stop_event is not None and stop_event.is_set():
            raise InterruptedError("proof-of-work search cancelled")
        if lib.poet_find_pow_nonce(prefix, len(prefix), difficulty, nonce, 1 << 16, found) == 1:
            return int(found[0])
        nonce += 1 << 16

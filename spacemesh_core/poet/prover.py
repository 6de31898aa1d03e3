"""A PoET round's sequential work on disk, with checkpoints so that a crashed server resumes it.

Layout of a round directory::

    leaves.bin        the labels computed so far, 32 bytes each, appended in order
    checkpoint.json   {"statement", "next_leaf", "parked"}: written atomically after leaves.bin
                      is flushed to disk up to ``next_leaf``
    layer_<h>.bin     the tree layers above the leaves, built once the work is finished

On restart the round opens its checkpoint, cuts ``leaves.bin`` back to ``next_leaf`` labels (labels
written after the checkpoint are recomputed identically) and continues the loop from the saved
parked nodes. The native loop runs without the GIL; call :meth:`RoundProver.run` in a worker thread.
"""

from __future__ import annotations

import json
import logging
import mmap
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from spacemesh_core.fsutil import write_file_atomic
from spacemesh_core.poet.native import ByteLayer, NativeLeafChain, compute_parent_layer
from spacemesh_core.poet.proof import PoetProof
from spacemesh_core.poet.reference import NODE_SIZE, SECURITY_PARAM, compute_poet_proof_from_layers

LOG = logging.getLogger(__name__)

#: Default number of leaves between checkpoints (the reference PoET uses 2^24).
DEFAULT_CHECKPOINT_LEAVES = 1 << 24
#: Nodes per chunk when building layers from files.
_LAYER_CHUNK_NODES = 1 << 16


class CheckpointError(RuntimeError):
    """A round directory whose checkpoint does not match its statement or its leaf file."""


class RoundProver:
    """Runs (or resumes) the sequential work of one round in ``directory``."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        statement: bytes,
        *,
        checkpoint_leaves: int = DEFAULT_CHECKPOINT_LEAVES,
        implementation: str = "auto",
    ) -> None:
        if len(statement) != NODE_SIZE:
            raise ValueError(f"the statement must be {NODE_SIZE} bytes, got {len(statement)}")
        if checkpoint_leaves <= 0:
            raise ValueError("checkpoint_leaves must be positive")
        self.directory = Path(directory)
        self.statement = bytes(statement)
        self.checkpoint_leaves = checkpoint_leaves
        self.implementation = implementation
        self.directory.mkdir(parents=True, exist_ok=True)
        self.resumed_from = 0
        self.chain = self._open_chain()

    @property
    def leaves_path(self) -> Path:
        """The file holding the computed labels."""
        return self.directory / "leaves.bin"

    @property
    def checkpoint_path(self) -> Path:
        """The checkpoint file."""
        return self.directory / "checkpoint.json"

    def _open_chain(self) -> NativeLeafChain:
        if not self.checkpoint_path.exists():
            # A leaf file without a checkpoint holds nothing we can trust: start over.
            self.leaves_path.write_bytes(b"")
            return NativeLeafChain(self.statement, implementation=self.implementation)
        try:
            saved = json.loads(self.checkpoint_path.read_text(encoding="utf-8"))
            statement = bytes.fromhex(saved["statement"])
            next_leaf = int(saved["next_leaf"])
            parked = [bytes.fromhex(p) if p else None for p in saved["parked"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"unreadable checkpoint {self.checkpoint_path}: {exc}") from None
        if statement != self.statement:
            raise CheckpointError(
                f"checkpoint in {self.directory} is for statement {statement.hex()}, not {self.statement.hex()}"
            )
        size = self.leaves_path.stat().st_size if self.leaves_path.exists() else 0
        if size < next_leaf * NODE_SIZE:
            raise CheckpointError(
                f"{self.leaves_path} holds {size // NODE_SIZE} leaves, the checkpoint claims {next_leaf}"
            )
        with self.leaves_path.open("r+b") as handle:
            handle.truncate(next_leaf * NODE_SIZE)
        self.resumed_from = next_leaf
        try:
            return NativeLeafChain(self.statement, next_leaf, parked, implementation=self.implementation)
        except ValueError as exc:
            raise CheckpointError(f"inconsistent checkpoint {self.checkpoint_path}: {exc}") from None

    def _write_checkpoint(self, handle: object) -> None:
        flush = getattr(handle, "flush", None)
        if flush is not None:
            flush()
            os.fsync(handle.fileno())  # type: ignore[attr-defined]
        document = {
            "statement": self.statement.hex(),
            "next_leaf": self.chain.next_leaf,
            "parked": [p.hex() if p else "" for p in self.chain.get_parked_nodes()],
        }
        write_file_atomic(self.checkpoint_path, json.dumps(document).encode("utf-8"))

    def run(
        self,
        deadline: float,
        *,
        min_leaves: int = SECURITY_PARAM,
        stop_event: threading.Event | None = None,
        clock: Callable[[], float] = time.time,
        max_leaves: int | None = None,
    ) -> int | None:
        """Compute leaves until ``deadline`` (unix seconds) has passed and ``min_leaves`` exist.

        Checkpoints every ``checkpoint_leaves`` leaves and on return.

        :param max_leaves: stop at this many leaves even before the deadline (tests, benchmarks).
        :return: the number of leaves, or ``None`` when ``stop_event`` interrupted the work (the
            state is checkpointed and a later run resumes it).
        """
        batch = 1024
        since_checkpoint = 0
        with self.leaves_path.open("ab") as handle:
            while True:
                if stop_event is not None and stop_event.is_set():
                    self._write_checkpoint(handle)
                    return None
                done = self.chain.next_leaf
                if (clock() >= deadline and done >= min_leaves) or (max_leaves is not None and done >= max_leaves):
                    self._write_checkpoint(handle)
                    return done
                count = batch
                if max_leaves is not None:
                    count = min(count, max_leaves - done)
                count = min(count, self.checkpoint_leaves - since_checkpoint)
                started = time.perf_counter()
                labels = self.chain.compute_leaves(count)
                elapsed = time.perf_counter() - started
                handle.write(labels)
                since_checkpoint += len(labels) // NODE_SIZE
                if since_checkpoint >= self.checkpoint_leaves:
                    self._write_checkpoint(handle)
                    since_checkpoint = 0
                # Aim for about 50 ms per native call: responsive to the deadline and to stop.
                if elapsed > 0:
                    batch = max(64, min(1 << 20, int(batch * 0.05 / elapsed) or 64))

    def build_layers(self) -> list[ByteLayer]:
        """Build the layers above the leaves into ``layer_<h>.bin`` and return all layers (mmapped).

        :raises CheckpointError: no leaves.
        """
        count = self.chain.next_leaf
        if count == 0:
            raise CheckpointError("the round has no leaves")
        paths = [self.leaves_path]
        width = count
        height = 0
        while width > 1:
            height += 1
            child_path, parent_path = paths[-1], self.directory / f"layer_{height}.bin"
            tmp_path = parent_path.with_suffix(".tmp")
            with child_path.open("rb") as child, tmp_path.open("wb") as parent:
                remaining = width
                while remaining:
                    take = min(remaining, 2 * _LAYER_CHUNK_NODES)
                    parent.write(
                        compute_parent_layer(self.statement, child.read(take * NODE_SIZE), self.implementation)
                    )
                    remaining -= take
                parent.flush()
                os.fsync(parent.fileno())
            os.replace(tmp_path, parent_path)
            paths.append(parent_path)
            width = (width + 1) // 2
        layers = []
        for index, path in enumerate(paths):
            nodes = count if index == 0 else os.path.getsize(path) // NODE_SIZE
            with path.open("rb") as handle:
                mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            layers.append(ByteLayer(memoryview(mapped)[: nodes * NODE_SIZE]))
        return layers

    def generate_proof(self, security_param: int = SECURITY_PARAM) -> PoetProof:
        """Build the layers and return the non-interactive proof over the leaves computed so far."""
        layers = self.build_layers()
        proof = compute_poet_proof_from_layers(self.statement, layers, security_param)
        LOG.info("round proof over %d leaves, root %s", proof.leaves, proof.root.hex())
        return proof

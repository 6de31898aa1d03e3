"""The PoST label store: a post-rs data directory that is at the same time a zarr v3 array.

Layout (post-poet.md §1.5, post-rs ``metadata.rs``/``reader.rs``)::

    postdata_metadata.json   NodeId, CommitmentAtxId (base64), LabelsPerUnit, NumUnits, MaxFileSize,
                             Nonce, LastPosition (null when absent), NonceValue (Go initializer, hex)
    postdata_0.bin           labels [0, L) as consecutive 16-byte labels, no header (L = MaxFileSize/16)
    postdata_1.bin           labels [L, 2L) ... only the last file may be shorter
    zarr.json                (optional) zarr v3 array metadata: shape (labels, 16), uint8, no compression,
                             one chunk per postdata file

:class:`PostDataStore` is a small zarr 3 ``Store`` that maps the chunk key ``c/<k>/0`` to
``postdata_<k>.bin`` and serves reads from memory maps, padding the short last file to a full chunk;
zarr therefore writes exactly the post-rs bytes. A plain post-rs directory without ``zarr.json`` is
accepted: the store synthesizes the array metadata from ``postdata_metadata.json``.

:class:`LabelStore` / :func:`get_labels` read label ranges through numpy memory maps for the prover.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import mmap
import os
import re
import threading
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any, Self

import attrs
import numpy as np
import zarr
from zarr.abc.store import ByteRequest, OffsetByteRequest, RangeByteRequest, Store, SuffixByteRequest
from zarr.core.buffer import Buffer, BufferPrototype, default_buffer_prototype

from spacemesh_core.fsutil import write_file_atomic
from spacemesh_core.post.labels import LABEL_SIZE

METADATA_FILE_NAME = "postdata_metadata.json"
ZARR_METADATA_FILE_NAME = "zarr.json"
#: post-rs reader's file name pattern (decimal index without padding)
DATA_FILE_RE = re.compile(r"^postdata_(\d+)\.bin$")
_CHUNK_KEY_RE = re.compile(r"^c/(\d+)/0$")
_MAX_U64 = (1 << 64) - 1
_MAX_U32 = (1 << 32) - 1


class PostDataError(ValueError):
    """A PoST data directory is missing, malformed or inconsistent (metadata, file sizes, ranges)."""


class MetadataMismatchError(PostDataError):
    """Existing metadata describes different data than requested (another identity, size, layout)."""


def _decode_id(value: Any, key: str) -> bytes:
    if not isinstance(value, str):
        raise PostDataError(f"{METADATA_FILE_NAME}: {key} must be a base64 string")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PostDataError(f"{METADATA_FILE_NAME}: {key} is not valid base64: {exc}") from None
    if len(raw) != 32:
        raise PostDataError(f"{METADATA_FILE_NAME}: {key} must decode to 32 bytes, got {len(raw)}")
    return raw


def _decode_uint(value: Any, key: str, maximum: int, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise PostDataError(f"{METADATA_FILE_NAME}: {key} must be an integer in [0, {maximum}], got {value!r}")
    return value


@attrs.frozen
class PostMetadata:
    """The contents of ``postdata_metadata.json`` (post-rs ``PostMetadata`` plus Go's ``NonceValue``)."""

    node_id: bytes
    commitment_atx_id: bytes
    labels_per_unit: int
    num_units: int
    max_file_size: int
    nonce: int | None = None
    last_position: int | None = None
    #: first 16 bytes of the nonce's output, hex in JSON (written by the Go initializer; post-rs ignores it)
    nonce_value: bytes | None = None

    def __attrs_post_init__(self) -> None:
        if len(self.node_id) != 32 or len(self.commitment_atx_id) != 32:
            raise PostDataError("node id and commitment ATX id must be 32 bytes")
        if not 1 <= self.labels_per_unit <= _MAX_U64 or not 1 <= self.num_units <= _MAX_U32:
            raise PostDataError(
                f"labels per unit and units must be >= 1, got {self.labels_per_unit} and {self.num_units}"
            )
        if self.max_file_size < LABEL_SIZE or self.max_file_size % LABEL_SIZE or self.max_file_size > _MAX_U64:
            raise PostDataError(f"MaxFileSize must be a positive multiple of 16, got {self.max_file_size}")
        if self.num_units * self.labels_per_unit > _MAX_U64:
            raise PostDataError("the total number of labels does not fit in a u64")

    @property
    def total_labels(self) -> int:
        """NumUnits x LabelsPerUnit."""
        return self.num_units * self.labels_per_unit

    @property
    def labels_per_file(self) -> int:
        """Labels in every file but possibly the last (MaxFileSize / 16)."""
        return self.max_file_size // LABEL_SIZE

    @property
    def num_files(self) -> int:
        """Number of ``postdata_<k>.bin`` files of the complete data."""
        return math.ceil(self.total_labels / self.labels_per_file)

    def get_file_range(self, k: int) -> tuple[int, int]:
        """Return the label range ``[first, end)`` held by file ``k``.

        :raises PostDataError: when ``k`` is not a file of this layout.
        """
        if not 0 <= k < self.num_files:
            raise PostDataError(f"file index {k} outside 0..{self.num_files - 1}")
        first = k * self.labels_per_file
        return first, min(first + self.labels_per_file, self.total_labels)

    def get_labels_in_file(self, k: int) -> int:
        """Number of labels in file ``k`` (only the last one may hold fewer than ``labels_per_file``)."""
        first, end = self.get_file_range(k)
        return end - first

    def is_same_data(self, other: PostMetadata) -> bool:
        """Whether ``other`` describes the same labels and layout (ignoring the nonce fields)."""
        return (
            self.node_id == other.node_id
            and self.commitment_atx_id == other.commitment_atx_id
            and self.labels_per_unit == other.labels_per_unit
            and self.num_units == other.num_units
            and self.max_file_size == other.max_file_size
        )

    def to_json_bytes(self) -> bytes:
        """Encode as post-rs does (PascalCase keys, base64 ids, null for absent options, pretty printed).

        ``NonceValue`` (Go's hex field) is added only when known, as Go omits it when empty.
        """
        document: dict[str, Any] = {
            "NodeId": base64.b64encode(self.node_id).decode("ascii"),
            "CommitmentAtxId": base64.b64encode(self.commitment_atx_id).decode("ascii"),
            "LabelsPerUnit": self.labels_per_unit,
            "NumUnits": self.num_units,
            "MaxFileSize": self.max_file_size,
            "Nonce": self.nonce,
            "LastPosition": self.last_position,
        }
        if self.nonce_value is not None:
            document["NonceValue"] = self.nonce_value.hex()
        return json.dumps(document, indent=2).encode("utf-8")

    @classmethod
    def from_json_bytes(cls, data: bytes) -> PostMetadata:
        """Decode ``postdata_metadata.json`` written by post-rs, the Go initializer or this project.

        Unknown keys are ignored (as post-rs does).

        :raises PostDataError: malformed JSON, missing keys or values out of range.
        """
        try:
            document = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PostDataError(f"{METADATA_FILE_NAME} is not valid JSON: {exc}") from None
        if not isinstance(document, dict):
            raise PostDataError(f"{METADATA_FILE_NAME} must hold a JSON object")
        for key in ("NodeId", "CommitmentAtxId", "LabelsPerUnit", "NumUnits", "MaxFileSize"):
            if key not in document:
                raise PostDataError(f"{METADATA_FILE_NAME} lacks the key {key}")
        nonce_value = document.get("NonceValue")
        if nonce_value is not None:
            if not isinstance(nonce_value, str):
                raise PostDataError(f"{METADATA_FILE_NAME}: NonceValue must be a hex string")
            try:
                nonce_value_bytes: bytes | None = bytes.fromhex(nonce_value) or None
            except ValueError:
                raise PostDataError(f"{METADATA_FILE_NAME}: NonceValue is not hex") from None
        else:
            nonce_value_bytes = None
        return cls(
            node_id=_decode_id(document["NodeId"], "NodeId"),
            commitment_atx_id=_decode_id(document["CommitmentAtxId"], "CommitmentAtxId"),
            labels_per_unit=_decode_uint(document["LabelsPerUnit"], "LabelsPerUnit", _MAX_U64) or 0,
            num_units=_decode_uint(document["NumUnits"], "NumUnits", _MAX_U32) or 0,
            max_file_size=_decode_uint(document["MaxFileSize"], "MaxFileSize", _MAX_U64) or 0,
            nonce=_decode_uint(document.get("Nonce"), "Nonce", _MAX_U64, optional=True),
            last_position=_decode_uint(document.get("LastPosition"), "LastPosition", _MAX_U64, optional=True),
            nonce_value=nonce_value_bytes,
        )


def get_data_file_name(k: int) -> str:
    """Return ``postdata_<k>.bin``."""
    return f"postdata_{k}.bin"


def get_data_file_path(directory: str | os.PathLike[str], k: int) -> Path:
    """Return the path of data file ``k`` in ``directory``."""
    return Path(directory) / get_data_file_name(k)


def read_metadata(directory: str | os.PathLike[str]) -> PostMetadata:
    """Read ``postdata_metadata.json`` of ``directory``.

    :raises PostDataError: when it is absent or malformed.
    """
    path = Path(directory) / METADATA_FILE_NAME
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PostDataError(f"{path} does not exist (not a PoST data directory?)") from None
    return PostMetadata.from_json_bytes(data)


def write_metadata(directory: str | os.PathLike[str], metadata: PostMetadata) -> None:
    """Write ``postdata_metadata.json`` atomically (temp file, fsync, rename)."""
    write_file_atomic(Path(directory) / METADATA_FILE_NAME, metadata.to_json_bytes())


def list_data_files(directory: str | os.PathLike[str]) -> dict[int, Path]:
    """Return ``{k: path}`` for every ``postdata_<k>.bin`` in ``directory`` (post-rs file name rule)."""
    found: dict[int, Path] = {}
    for entry in os.scandir(directory):
        match = DATA_FILE_RE.match(entry.name)
        if match and entry.is_file():
            found[int(match.group(1))] = Path(entry.path)
    return dict(sorted(found.items()))


def get_missing_files(directory: str | os.PathLike[str], metadata: PostMetadata | None = None) -> list[int]:
    """Return the indices of data files that are absent or do not have their exact size."""
    meta = metadata or read_metadata(directory)
    files = list_data_files(directory)
    missing = []
    for k in range(meta.num_files):
        path = files.get(k)
        if path is None or path.stat().st_size != meta.get_labels_in_file(k) * LABEL_SIZE:
            missing.append(k)
    return missing


# --------------------------------------------------------------------------------------------
# Memory-mapped reads
# --------------------------------------------------------------------------------------------


class _MappedFile:
    """A read-only memory map of one data file, reopened when the file is replaced."""

    def __init__(self, path: Path) -> None:
        self.path = path
        stat = path.stat()
        self.identity = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        self.size = stat.st_size
        if self.size:
            with path.open("rb") as handle:
                self._map: mmap.mmap | None = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            self.array = np.frombuffer(self._map, dtype=np.uint8)
        else:
            self._map = None
            self.array = np.zeros(0, dtype=np.uint8)

    def is_current(self) -> bool:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return False
        return (stat.st_ino, stat.st_size, stat.st_mtime_ns) == self.identity


class _MapCache:
    """Thread-safe cache of memory maps keyed by file index."""

    def __init__(self) -> None:
        self._maps: dict[int, _MappedFile] = {}
        self._lock = threading.Lock()

    def get(self, k: int, path: Path) -> _MappedFile | None:
        with self._lock:
            cached = self._maps.get(k)
            if cached is not None and cached.is_current():
                return cached
            try:
                mapped = _MappedFile(path)
            except FileNotFoundError:
                self._maps.pop(k, None)
                return None
            self._maps[k] = mapped
            return mapped

    def forget(self, k: int) -> None:
        with self._lock:
            self._maps.pop(k, None)

    def clear(self) -> None:
        with self._lock:
            self._maps.clear()


class LabelStore:
    """Reads labels of a PoST data directory through memory maps (what the prover scans)."""

    def __init__(self, directory: str | os.PathLike[str], metadata: PostMetadata | None = None) -> None:
        """Open ``directory``; its metadata is read unless given.

        :raises PostDataError: when the metadata is absent or malformed.
        """
        self.directory = Path(directory)
        self.metadata = metadata or read_metadata(self.directory)
        self._maps = _MapCache()

    def get_file_array(self, k: int) -> np.ndarray:
        """Return file ``k`` as a read-only (labels, 16) uint8 array backed by its memory map.

        :raises PostDataError: when the file is absent or does not have its exact size.
        """
        expected = self.metadata.get_labels_in_file(k) * LABEL_SIZE
        mapped = self._maps.get(k, get_data_file_path(self.directory, k))
        if mapped is None:
            raise PostDataError(f"{get_data_file_path(self.directory, k)} is missing")
        if mapped.size != expected:
            raise PostDataError(
                f"{mapped.path} holds {mapped.size} bytes, {expected} expected (incomplete initialization?)"
            )
        return mapped.array.reshape(-1, LABEL_SIZE)

    def get_labels(self, start: int, count: int) -> np.ndarray:
        """Return labels ``start .. start+count-1`` as a (count, 16) uint8 array.

        Inside one file the result is a read-only view of the memory map; across files it is a copy.

        :raises PostDataError: for a range outside the data or a missing/short file.
        """
        meta = self.metadata
        if start < 0 or count < 0 or start + count > meta.total_labels:
            raise PostDataError(f"label range [{start}, {start + count}) outside [0, {meta.total_labels})")
        if count == 0:
            return np.zeros((0, LABEL_SIZE), dtype=np.uint8)
        per_file = meta.labels_per_file
        first_file, last_file = start // per_file, (start + count - 1) // per_file
        if first_file == last_file:
            offset = start - first_file * per_file
            return self.get_file_array(first_file)[offset : offset + count]
        parts = []
        position = start
        end = start + count
        for k in range(first_file, last_file + 1):
            file_first = k * per_file
            lo = position - file_first
            hi = min(end, file_first + per_file) - file_first
            parts.append(self.get_file_array(k)[lo:hi])
            position = file_first + hi
        return np.concatenate(parts)

    def close(self) -> None:
        """Drop the cached memory maps (they close when no array refers to them any more)."""
        self._maps.clear()

    def get_zarr_array(self, mode: str = "r") -> zarr.Array:
        """Return the directory as a zarr v3 array (labels x 16, uint8) through :class:`PostDataStore`."""
        return open_zarr_array(self.directory, mode=mode)


def get_labels(directory: str | os.PathLike[str], start: int, count: int) -> np.ndarray:
    """Return labels ``start .. start+count-1`` of the PoST data in ``directory`` as (count, 16) uint8.

    :raises PostDataError: missing metadata/files or a range outside the data.
    """
    return LabelStore(directory).get_labels(start, count)


# --------------------------------------------------------------------------------------------
# The zarr v3 view
# --------------------------------------------------------------------------------------------


def compute_zarr_metadata(metadata: PostMetadata) -> bytes:
    """Return the ``zarr.json`` of the array view: shape (labels, 16), uint8, raw bytes, one chunk per file."""
    document = {
        "shape": [metadata.total_labels, LABEL_SIZE],
        "data_type": "uint8",
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [metadata.labels_per_file, LABEL_SIZE]}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": 0,
        "codecs": [{"name": "bytes"}],
        "attributes": {"spacemesh": {"layout": "post-rs postdata files", "metadata": METADATA_FILE_NAME}},
        "dimension_names": ["label", "byte"],
        "zarr_format": 3,
        "node_type": "array",
        "storage_transformers": [],
    }
    return json.dumps(document, indent=2).encode("utf-8")


def write_zarr_metadata(directory: str | os.PathLike[str], metadata: PostMetadata) -> None:
    """Write ``zarr.json`` for ``metadata`` atomically (post-rs ignores the extra file)."""
    write_file_atomic(Path(directory) / ZARR_METADATA_FILE_NAME, compute_zarr_metadata(metadata))


def _slice_for(data: np.ndarray, byte_range: ByteRequest | None) -> np.ndarray:
    if byte_range is None:
        return data
    if isinstance(byte_range, RangeByteRequest):
        return data[byte_range.start : byte_range.end]
    if isinstance(byte_range, OffsetByteRequest):
        return data[byte_range.offset :]
    if isinstance(byte_range, SuffixByteRequest):
        return data[max(0, len(data) - byte_range.suffix) :]
    raise TypeError(f"unexpected byte range {byte_range!r}")


class PostDataStore(Store):
    """A zarr 3 store over a post-rs directory: chunk ``c/<k>/0`` is ``postdata_<k>.bin``.

    Reads come from memory maps (the short last file is zero-padded to a full chunk); chunk writes go to
    the data file atomically (temp file + rename) and are cut to the file's real size, so the files stay
    exactly what post-rs writes. ``zarr.json`` is the real file when present, else it is synthesized
    from ``postdata_metadata.json`` (a plain post-rs directory opens read-only without any change).
    """

    supports_writes: bool = True
    supports_deletes: bool = True
    supports_listing: bool = True

    def __init__(self, root: str | os.PathLike[str], *, read_only: bool = False) -> None:
        super().__init__(read_only=read_only)
        self.root = Path(root)
        self._maps = _MapCache()

    def with_read_only(self, read_only: bool = False) -> Self:
        """Return a store over the same directory with the given read-only flag."""
        return type(self)(self.root, read_only=read_only)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PostDataStore) and self.root == other.root

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.root))

    def __repr__(self) -> str:
        return f"PostDataStore({str(self.root)!r})"

    # -- helpers ---------------------------------------------------------------------------------

    def _get_metadata(self) -> PostMetadata:
        return read_metadata(self.root)

    def _get_chunk_bytes(self, k: int) -> np.ndarray | None:
        try:
            meta = self._get_metadata()
        except PostDataError:
            return None
        if not 0 <= k < meta.num_files:
            return None
        mapped = self._maps.get(k, get_data_file_path(self.root, k))
        if mapped is None:
            return None
        chunk_size = meta.labels_per_file * LABEL_SIZE
        if mapped.size == chunk_size:
            return mapped.array
        # the last post-rs file is shorter than a chunk: pad it with the fill value on read
        padded = np.zeros(chunk_size, dtype=np.uint8)
        used = min(mapped.size, chunk_size)
        padded[:used] = mapped.array[:used]
        return padded

    def _get_zarr_json(self) -> bytes | None:
        path = self.root / ZARR_METADATA_FILE_NAME
        try:
            return path.read_bytes()
        except FileNotFoundError:
            pass
        try:
            return compute_zarr_metadata(self._get_metadata())
        except PostDataError:
            return None

    # -- Store API -------------------------------------------------------------------------------

    async def get(
        self,
        key: str,
        prototype: BufferPrototype | None = None,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        """Return the bytes of ``key`` (``zarr.json`` or a chunk), or None when absent."""
        proto = prototype or default_buffer_prototype()
        if key == ZARR_METADATA_FILE_NAME:
            raw = self._get_zarr_json()
            if raw is None:
                return None
            return proto.buffer.from_array_like(_slice_for(np.frombuffer(raw, dtype=np.uint8), byte_range))
        match = _CHUNK_KEY_RE.match(key)
        if match is None:
            return None
        data = self._get_chunk_bytes(int(match.group(1)))
        if data is None:
            return None
        return proto.buffer.from_array_like(_slice_for(data, byte_range))

    async def get_partial_values(
        self,
        prototype: BufferPrototype,
        key_ranges: Iterable[tuple[str, ByteRequest | None]],
    ) -> list[Buffer | None]:
        """Return the requested byte ranges of several keys."""
        return [await self.get(key, prototype, byte_range) for key, byte_range in key_ranges]

    async def exists(self, key: str) -> bool:
        """Whether ``key`` holds a value."""
        if key == ZARR_METADATA_FILE_NAME:
            return self._get_zarr_json() is not None
        match = _CHUNK_KEY_RE.match(key)
        return match is not None and get_data_file_path(self.root, int(match.group(1))).is_file()

    async def set(self, key: str, value: Buffer) -> None:
        """Store ``value`` under ``key``: ``zarr.json`` or a chunk (written as its postdata file).

        :raises PostDataError: for a key that is not part of a PoST array or a chunk outside the data.
        """
        self._check_writable()
        raw = value.as_numpy_array().view(np.uint8).reshape(-1)
        if key == ZARR_METADATA_FILE_NAME:
            write_file_atomic(self.root / key, raw.tobytes())
            return
        match = _CHUNK_KEY_RE.match(key)
        if match is None:
            raise PostDataError(f"key {key!r} is not part of a PoST data array")
        k = int(match.group(1))
        meta = self._get_metadata()
        size = meta.get_labels_in_file(k) * LABEL_SIZE
        if raw.size < size:
            raise PostDataError(f"chunk {key} has {raw.size} bytes, {size} needed")
        write_file_atomic(get_data_file_path(self.root, k), raw[:size].tobytes())
        self._maps.forget(k)

    async def delete(self, key: str) -> None:
        """Remove ``key`` (a chunk removes its postdata file)."""
        self._check_writable()
        if key == ZARR_METADATA_FILE_NAME:
            (self.root / key).unlink(missing_ok=True)
            return
        match = _CHUNK_KEY_RE.match(key)
        if match is not None:
            k = int(match.group(1))
            self._maps.forget(k)
            get_data_file_path(self.root, k).unlink(missing_ok=True)

    async def list(self) -> AsyncIterator[str]:
        """Yield every key: ``zarr.json`` and ``c/<k>/0`` per data file."""
        if self._get_zarr_json() is not None:
            yield ZARR_METADATA_FILE_NAME
        if self.root.is_dir():
            for k in list_data_files(self.root):
                yield f"c/{k}/0"

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        """Yield the keys starting with ``prefix``."""
        async for key in self.list():
            if key.startswith(prefix):
                yield key

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        """Yield the immediate children of ``prefix`` (keys and key prefixes)."""
        prefix = prefix.rstrip("/")
        base = f"{prefix}/" if prefix else ""
        seen: set[str] = set()
        async for key in self.list():
            if not key.startswith(base):
                continue
            child = key[len(base) :].split("/", 1)[0]
            if child and child not in seen:
                seen.add(child)
                yield child


def open_zarr_array(directory: str | os.PathLike[str], mode: str = "r") -> zarr.Array:
    """Open the PoST directory as a zarr v3 array (labels x 16, uint8).

    :param mode: ``"r"`` read-only, ``"r+"`` to write chunks (= data files) through zarr.
    :raises PostDataError: when the directory has no metadata.
    """
    read_metadata(directory)  # a clear error instead of zarr's "nothing found"
    store = PostDataStore(directory, read_only=mode == "r")
    # every chunk is a data file: never skip an all-zero chunk (zarr's default drops "empty" chunks)
    array = zarr.open_array(store=store, mode="r" if mode == "r" else "r+", zarr_format=3)
    if not isinstance(array, zarr.Array):  # pragma: no cover - open_array always returns an Array
        raise PostDataError(f"{directory} is not a zarr array")
    return array.with_config({"write_empty_chunks": True})

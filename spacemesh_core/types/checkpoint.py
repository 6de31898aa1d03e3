"""Checkpoint JSON: the snapshot a node recovers from (protocol.md §9.4; go-spacemesh ``checkpoint``).

::

    {"command": str, "version": "https://spacemesh.io/checkpoint.schema.json.1.0",
     "data": {"id": str,
              "atxs": [{"id", "epoch", "commitmentAtx", "marriageAtx", "vrfNonce", "baseTickHeight",
                        "tickCount", "publicKey", "sequence", "coinbase", "numUnits",
                        "units": {<node id>: <units>}}],
              "accounts": [{"address", "balance", "nonce", "template", "state"}],
              "marriages": {<set id>: [{"atx", "index", "marriedTo", "signer", "signature"}]}}}

Byte fields are standard base64 (Go's ``[]byte`` JSON form), ``null`` where absent; node-id keys
of ``units`` are base64 too. Loading validates more than the reference's JSON schema does: every
required key present with the right JSON type, byte fields of the exact size, integers within
their Go type (``uint32`` / ``uint64``), no duplicate ATX ids or account addresses, and the version
string the reference checks. ``marriages`` (added with ATX v2) is optional on input.
Any violation raises :class:`CheckpointError`.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import attrs

from spacemesh_core.fsutil import write_file_atomic
from spacemesh_core.types.primitives import (
    ADDRESS_SIZE,
    ATX_ID_SIZE,
    ED_SIGNATURE_SIZE,
    NODE_ID_SIZE,
)

#: The only checkpoint format version the reference accepts (its JSON schema ``$id``).
SCHEMA_VERSION: Final = "https://spacemesh.io/checkpoint.schema.json.1.0"

_U32_MAX: Final = (1 << 32) - 1
_U64_MAX: Final = (1 << 64) - 1
_I64_MAX: Final = (1 << 63) - 1  # Go ``int`` (marriage index, set id) on 64-bit platforms


class CheckpointError(ValueError):
    """Raised for a checkpoint file that is not valid JSON or does not follow the format."""


# ---------------------------------------------------------------------------------------------
# The data model
# ---------------------------------------------------------------------------------------------


@attrs.frozen(hash=False)
class AtxSnapshot:
    """One ATX kept in the checkpoint (restored as a "golden" ATX without its blob)."""

    id: bytes
    epoch: int
    commitment_atx: bytes
    vrf_nonce: int
    base_tick_height: int
    tick_count: int
    public_key: bytes  # the smesher id
    sequence: int
    coinbase: bytes
    num_units: int  # total effective units
    units: dict[bytes, int] = attrs.field(factory=dict)  # units per (married) node id
    marriage_atx: bytes | None = None


@attrs.frozen
class AccountSnapshot:
    """One account's state at the snapshot layer."""

    address: bytes
    balance: int
    nonce: int  # the next nonce
    template: bytes | None = None  # None for a stub (not yet spawned) account
    state: bytes | None = None


@attrs.frozen
class MarriageSnapshot:
    """One member of an equivocation set (ATX v2 marriages)."""

    atx: bytes
    index: int
    married_to: bytes
    signer: bytes
    signature: bytes


@attrs.frozen(hash=False)
class Checkpoint:
    """A whole checkpoint file."""

    command: str
    id: str
    atxs: tuple[AtxSnapshot, ...] = ()
    accounts: tuple[AccountSnapshot, ...] = ()
    marriages: dict[int, tuple[MarriageSnapshot, ...]] = attrs.field(factory=dict)
    version: str = SCHEMA_VERSION


# ---------------------------------------------------------------------------------------------
# Validation helpers
# ---------------------------------------------------------------------------------------------


def _require(obj: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise CheckpointError(f"{where}: missing key {key!r}")
    return obj[key]


def _as_object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise CheckpointError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _as_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise CheckpointError(f"{where}: expected an array, got {type(value).__name__}")
    return value


def _as_str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise CheckpointError(f"{where}: expected a string, got {type(value).__name__}")
    return value


def _as_uint(value: Any, maximum: int, where: str) -> int:
    # bool is an int subclass in Python but not a JSON number; floats are rejected like Go does.
    if not isinstance(value, int) or isinstance(value, bool):
        raise CheckpointError(f"{where}: expected an integer, got {value!r}")
    if not 0 <= value <= maximum:
        raise CheckpointError(f"{where}: {value} is out of range [0, {maximum}]")
    return value


def _decode_b64(text: str, where: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CheckpointError(f"{where}: invalid base64: {exc}") from None


def _as_bytes(value: Any, size: int | None, where: str) -> bytes:
    raw = _decode_b64(_as_str(value, where), where)
    if size is not None and len(raw) != size:
        raise CheckpointError(f"{where}: expected {size} bytes, got {len(raw)}")
    return raw


def _get_uint(obj: Mapping[str, Any], key: str, maximum: int, where: str) -> int:
    return _as_uint(_require(obj, key, where), maximum, f"{where}.{key}")


def _get_bytes(obj: Mapping[str, Any], key: str, size: int | None, where: str) -> bytes:
    return _as_bytes(_require(obj, key, where), size, f"{where}.{key}")


def _as_optional_bytes(obj: Mapping[str, Any], key: str, size: int | None, where: str) -> bytes | None:
    value = obj.get(key)
    if value is None:
        return None
    return _as_bytes(value, size, f"{where}.{key}")


def _encode_b64(value: bytes | None) -> str | None:
    return None if value is None else base64.b64encode(value).decode("ascii")


# ---------------------------------------------------------------------------------------------
# JSON <-> model
# ---------------------------------------------------------------------------------------------


def _parse_atx(value: Any, where: str) -> AtxSnapshot:
    obj = _as_object(value, where)
    units_obj = _as_object(_require(obj, "units", where), f"{where}.units")
    units: dict[bytes, int] = {}
    for key, count in units_obj.items():
        node_id = _as_bytes(key, NODE_ID_SIZE, f"{where}.units key")
        units[node_id] = _as_uint(count, _U32_MAX, f"{where}.units[{key}]")
    return AtxSnapshot(
        id=_get_bytes(obj, "id", ATX_ID_SIZE, where),
        epoch=_get_uint(obj, "epoch", _U32_MAX, where),
        commitment_atx=_get_bytes(obj, "commitmentAtx", ATX_ID_SIZE, where),
        vrf_nonce=_get_uint(obj, "vrfNonce", _U64_MAX, where),
        base_tick_height=_get_uint(obj, "baseTickHeight", _U64_MAX, where),
        tick_count=_get_uint(obj, "tickCount", _U64_MAX, where),
        public_key=_get_bytes(obj, "publicKey", NODE_ID_SIZE, where),
        sequence=_get_uint(obj, "sequence", _U64_MAX, where),
        coinbase=_get_bytes(obj, "coinbase", ADDRESS_SIZE, where),
        num_units=_get_uint(obj, "numUnits", _U32_MAX, where),
        units=units,
        marriage_atx=_as_optional_bytes(obj, "marriageAtx", ATX_ID_SIZE, where),
    )


def _parse_account(value: Any, where: str) -> AccountSnapshot:
    obj = _as_object(value, where)
    return AccountSnapshot(
        address=_get_bytes(obj, "address", ADDRESS_SIZE, where),
        balance=_get_uint(obj, "balance", _U64_MAX, where),
        nonce=_get_uint(obj, "nonce", _U64_MAX, where),
        template=_as_optional_bytes(obj, "template", ADDRESS_SIZE, where),
        state=_as_optional_bytes(obj, "state", None, where),
    )


def _parse_marriage(value: Any, where: str) -> MarriageSnapshot:
    obj = _as_object(value, where)
    return MarriageSnapshot(
        atx=_get_bytes(obj, "atx", ATX_ID_SIZE, where),
        index=_get_uint(obj, "index", _I64_MAX, where),
        married_to=_get_bytes(obj, "marriedTo", NODE_ID_SIZE, where),
        signer=_get_bytes(obj, "signer", NODE_ID_SIZE, where),
        signature=_get_bytes(obj, "signature", ED_SIGNATURE_SIZE, where),
    )


def _parse_set_id(key: str) -> int:
    # Go marshals map[int] keys as decimal strings.
    if not key.isascii() or not key.isdigit() or (len(key) > 1 and key[0] == "0"):
        raise CheckpointError(f"data.marriages: key {key!r} is not a decimal set id")
    return _as_uint(int(key), _I64_MAX, f"data.marriages[{key}]")


def parse_checkpoint_obj(obj: Any) -> Checkpoint:
    """Validate the parsed JSON value ``obj`` and return the :class:`Checkpoint` it describes.

    :raises CheckpointError: if ``obj`` does not follow the checkpoint format.
    """
    top = _as_object(obj, "checkpoint")
    command = _as_str(_require(top, "command", "checkpoint"), "command")
    version = _as_str(_require(top, "version", "checkpoint"), "version")
    if version != SCHEMA_VERSION:
        raise CheckpointError(f"unsupported checkpoint version {version!r} (expected {SCHEMA_VERSION!r})")
    data = _as_object(_require(top, "data", "checkpoint"), "data")
    checkpoint_id = _as_str(_require(data, "id", "data"), "data.id")
    atxs = tuple(
        _parse_atx(item, f"data.atxs[{i}]")
        for i, item in enumerate(_as_list(_require(data, "atxs", "data"), "data.atxs"))
    )
    accounts = tuple(
        _parse_account(item, f"data.accounts[{i}]")
        for i, item in enumerate(_as_list(_require(data, "accounts", "data"), "data.accounts"))
    )
    marriages: dict[int, tuple[MarriageSnapshot, ...]] = {}
    raw_marriages = data.get("marriages")
    if raw_marriages is not None:
        for key, members in _as_object(raw_marriages, "data.marriages").items():
            set_id = _parse_set_id(key)
            marriages[set_id] = tuple(
                _parse_marriage(item, f"data.marriages[{key}][{i}]")
                for i, item in enumerate(_as_list(members, f"data.marriages[{key}]"))
            )
    if len({atx.id for atx in atxs}) != len(atxs):
        raise CheckpointError("data.atxs: duplicate ATX id")
    if len({account.address for account in accounts}) != len(accounts):
        raise CheckpointError("data.accounts: duplicate address")
    return Checkpoint(
        command=command, id=checkpoint_id, atxs=atxs, accounts=accounts, marriages=marriages, version=version
    )


def parse_checkpoint(data: bytes | str) -> Checkpoint:
    """Parse and validate checkpoint JSON text.

    :raises CheckpointError: if ``data`` is not JSON or does not follow the checkpoint format.
    """
    try:
        obj = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"checkpoint is not valid JSON: {exc}") from None
    return parse_checkpoint_obj(obj)


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read, parse and validate the checkpoint file at ``path``.

    :raises OSError: if the file cannot be read.
    :raises CheckpointError: if its content is not a valid checkpoint.
    """
    return parse_checkpoint(Path(path).read_bytes())


def _atx_to_obj(atx: AtxSnapshot) -> dict[str, Any]:
    return {
        "id": _encode_b64(atx.id),
        "epoch": atx.epoch,
        "commitmentAtx": _encode_b64(atx.commitment_atx),
        "marriageAtx": _encode_b64(atx.marriage_atx),
        "vrfNonce": atx.vrf_nonce,
        "baseTickHeight": atx.base_tick_height,
        "tickCount": atx.tick_count,
        "publicKey": _encode_b64(atx.public_key),
        "sequence": atx.sequence,
        "coinbase": _encode_b64(atx.coinbase),
        "numUnits": atx.num_units,
        "units": {_encode_b64(node_id): count for node_id, count in atx.units.items()},
    }


def get_checkpoint_obj(checkpoint: Checkpoint) -> dict[str, Any]:
    """Return the JSON-ready dict of ``checkpoint``, keys in the reference's order."""
    return {
        "command": checkpoint.command,
        "version": checkpoint.version,
        "data": {
            "id": checkpoint.id,
            "atxs": [_atx_to_obj(atx) for atx in checkpoint.atxs],
            "accounts": [
                {
                    "address": _encode_b64(account.address),
                    "balance": account.balance,
                    "nonce": account.nonce,
                    "template": _encode_b64(account.template),
                    "state": _encode_b64(account.state),
                }
                for account in checkpoint.accounts
            ],
            "marriages": {
                str(set_id): [
                    {
                        "atx": _encode_b64(member.atx),
                        "index": member.index,
                        "marriedTo": _encode_b64(member.married_to),
                        "signer": _encode_b64(member.signer),
                        "signature": _encode_b64(member.signature),
                    }
                    for member in members
                ]
                for set_id, members in checkpoint.marriages.items()
            },
        },
    }


def dump_checkpoint(checkpoint: Checkpoint) -> bytes:
    """Return ``checkpoint`` as JSON bytes (compact, one trailing newline, like Go's encoder).

    The result is validated by parsing it back, so an invalid model never reaches a file.

    :raises CheckpointError: if the model holds values the format cannot carry.
    """
    try:
        text = json.dumps(get_checkpoint_obj(checkpoint), separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint cannot be serialised: {exc}") from None
    data = (text + "\n").encode("utf-8")
    parse_checkpoint(data)
    return data


def write_checkpoint(checkpoint: Checkpoint, path: str | os.PathLike[str]) -> None:
    """Write ``checkpoint`` to ``path`` atomically (temp file, fsync, rename).

    :raises CheckpointError: if the model is invalid (nothing is written then).
    :raises OSError: if the file cannot be written.
    """
    write_file_atomic(path, dump_checkpoint(checkpoint))

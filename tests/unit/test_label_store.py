"""The label store: post-rs metadata encoding, file layout, memory-mapped reads and the zarr v3 view."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import numpy as np
import pytest
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st

from spacemesh_core.post.store import (
    LabelStore,
    PostDataError,
    PostDataStore,
    PostMetadata,
    compute_zarr_metadata,
    get_data_file_path,
    get_labels,
    get_missing_files,
    list_data_files,
    open_zarr_array,
    read_metadata,
    write_metadata,
    write_zarr_metadata,
)

NODE_ID = bytes(range(32))
ATX_ID = bytes(range(100, 132))


def _metadata(units: int = 2, per_unit: int = 50, max_file_size: int = 16 * 32, **kwargs: object) -> PostMetadata:
    return PostMetadata(NODE_ID, ATX_ID, per_unit, units, max_file_size, **kwargs)  # type: ignore[arg-type]


def _write_plain_directory(path: Path, meta: PostMetadata, seed: int = 1) -> np.ndarray:
    """A post-rs directory (no zarr.json) with random labels; returns the labels."""
    path.mkdir(parents=True, exist_ok=True)
    write_metadata(path, meta)
    data = np.random.default_rng(seed).integers(0, 256, (meta.total_labels, 16), dtype=np.uint8)
    for k in range(meta.num_files):
        first, end = meta.get_file_range(k)
        get_data_file_path(path, k).write_bytes(data[first:end].tobytes())
    return data


# --------------------------------------------------------------------------------------------
# metadata
# --------------------------------------------------------------------------------------------


def test_metadata_json_is_post_rs_encoding() -> None:
    meta = _metadata()
    document = json.loads(meta.to_json_bytes())
    assert list(document) == [
        "NodeId", "CommitmentAtxId", "LabelsPerUnit", "NumUnits", "MaxFileSize", "Nonce", "LastPosition",
    ]
    assert base64.b64decode(document["NodeId"]) == NODE_ID
    assert base64.b64decode(document["CommitmentAtxId"]) == ATX_ID
    assert document["Nonce"] is None and document["LastPosition"] is None
    assert meta.to_json_bytes().startswith(b'{\n  "NodeId": ')  # pretty printed like serde_json
    with_nonce = _metadata(nonce=7, last_position=100, nonce_value=bytes(range(16)))
    document = json.loads(with_nonce.to_json_bytes())
    assert (document["Nonce"], document["LastPosition"]) == (7, 100)
    assert document["NonceValue"] == bytes(range(16)).hex()
    assert PostMetadata.from_json_bytes(with_nonce.to_json_bytes()) == with_nonce


def test_metadata_reads_go_and_post_rs_files() -> None:
    go_style = {  # Go omits empty options and may carry unknown keys
        "NodeId": base64.b64encode(NODE_ID).decode(),
        "CommitmentAtxId": base64.b64encode(ATX_ID).decode(),
        "LabelsPerUnit": 4294967296,
        "NumUnits": 4,
        "MaxFileSize": 4294967296,
        "Nonce": 12345,
        "NonceValue": "00000102030405060708090a0b0c0d0e",
        "Version": 1,
    }
    meta = PostMetadata.from_json_bytes(json.dumps(go_style).encode())
    assert meta.nonce == 12345 and meta.last_position is None
    assert meta.nonce_value == bytes.fromhex(str(go_style["NonceValue"]))
    assert meta.total_labels == 4 * 2**32 and meta.num_files == 64 and meta.labels_per_file == 2**28


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"NodeId": "not base64!"}, "base64"),
        ({"NodeId": base64.b64encode(bytes(31)).decode()}, "32 bytes"),
        ({"MaxFileSize": 1000}, "multiple of 16"),
        ({"NumUnits": -1}, "NumUnits"),
        ({"NumUnits": 2**32}, "NumUnits"),
        ({"Nonce": "7"}, "Nonce"),
        ({"NonceValue": "xyz"}, "hex"),
        ({"LabelsPerUnit": True}, "LabelsPerUnit"),
    ],
)
def test_metadata_rejects_malformed_values(change: dict, message: str) -> None:
    document = json.loads(_metadata().to_json_bytes())
    document.update(change)
    with pytest.raises(PostDataError, match=message):
        PostMetadata.from_json_bytes(json.dumps(document).encode())


def test_metadata_rejects_missing_keys_and_bad_json(tmp_path: Path) -> None:
    document = json.loads(_metadata().to_json_bytes())
    del document["MaxFileSize"]
    with pytest.raises(PostDataError, match="MaxFileSize"):
        PostMetadata.from_json_bytes(json.dumps(document).encode())
    with pytest.raises(PostDataError, match="JSON"):
        PostMetadata.from_json_bytes(b"{not json")
    with pytest.raises(PostDataError, match="does not exist"):
        read_metadata(tmp_path)


def test_metadata_write_is_atomic_and_leaves_no_temp_file(tmp_path: Path) -> None:
    write_metadata(tmp_path, _metadata(nonce=1))
    write_metadata(tmp_path, _metadata(nonce=2))
    assert sorted(os.listdir(tmp_path)) == ["postdata_metadata.json"]
    assert read_metadata(tmp_path).nonce == 2


def test_layout_matches_post_rs_unit_tests() -> None:
    # post-rs metadata.rs test_num_files / test_labels_in_file
    assert _metadata(units=1, per_unit=1, max_file_size=16).num_files == 1
    meta = _metadata(units=77, per_unit=100, max_file_size=1024)
    assert meta.num_files == 121
    assert meta.get_labels_in_file(0) == 64 and meta.get_labels_in_file(120) == 7700 - 120 * 64
    with pytest.raises(PostDataError):
        meta.get_labels_in_file(121)


@settings(max_examples=60, deadline=None)
@given(units=st.integers(1, 50), per_unit=st.integers(1, 500), labels_per_file=st.integers(1, 300))
def test_layout_files_partition_the_labels(units: int, per_unit: int, labels_per_file: int) -> None:
    meta = _metadata(units=units, per_unit=per_unit, max_file_size=16 * labels_per_file)
    position = 0
    for k in range(meta.num_files):
        first, end = meta.get_file_range(k)
        assert first == position and 0 < end - first <= labels_per_file
        assert end - first == labels_per_file or k == meta.num_files - 1
        position = end
    assert position == meta.total_labels


def test_metadata_constructor_validates() -> None:
    with pytest.raises(PostDataError):
        _metadata(max_file_size=8)
    with pytest.raises(PostDataError):
        _metadata(units=0)
    with pytest.raises(PostDataError):
        PostMetadata(bytes(3), ATX_ID, 1, 1, 16)


# --------------------------------------------------------------------------------------------
# memory-mapped reads
# --------------------------------------------------------------------------------------------


def test_get_labels_across_files(tmp_path: Path) -> None:
    meta = _metadata()
    data = _write_plain_directory(tmp_path, meta)
    store = LabelStore(tmp_path)
    for start, count in [(0, 100), (0, 1), (31, 2), (32, 32), (5, 90), (99, 1), (64, 36), (17, 0)]:
        assert np.array_equal(store.get_labels(start, count), data[start : start + count])
    assert np.array_equal(get_labels(tmp_path, 10, 60), data[10:70])
    view = store.get_labels(3, 4)
    assert not view.flags.writeable  # a view of the read-only memory map
    for start, count in [(-1, 2), (99, 2), (0, 101)]:
        with pytest.raises(PostDataError):
            store.get_labels(start, count)


def test_get_labels_reports_missing_and_short_files(tmp_path: Path) -> None:
    meta = _metadata()
    _write_plain_directory(tmp_path, meta)
    get_data_file_path(tmp_path, 1).unlink()
    path = get_data_file_path(tmp_path, 2)
    path.write_bytes(path.read_bytes()[:-16])
    store = LabelStore(tmp_path)
    with pytest.raises(PostDataError, match="missing"):
        store.get_labels(40, 1)
    with pytest.raises(PostDataError, match="bytes"):
        store.get_labels(70, 1)
    assert store.get_labels(0, 32).shape == (32, 16)
    assert get_missing_files(tmp_path) == [1, 2]


def test_replaced_file_is_remapped(tmp_path: Path) -> None:
    meta = _metadata()
    data = _write_plain_directory(tmp_path, meta)
    store = LabelStore(tmp_path)
    assert np.array_equal(store.get_labels(0, 4), data[:4])
    fresh = np.full((32, 16), 7, dtype=np.uint8)
    tmp = tmp_path / "swap.tmp"
    tmp.write_bytes(fresh.tobytes())
    os.replace(tmp, get_data_file_path(tmp_path, 0))
    assert np.array_equal(store.get_labels(0, 4), fresh[:4])


def test_list_data_files_uses_the_post_rs_name_rule(tmp_path: Path) -> None:
    for name in ["postdata_0.bin", "postdata_10.bin", "postdata_2.bin", "postdata_3.bin.partial",
                 "postdata_x.bin", "postdata_-1.bin", "xpostdata_1.bin"]:
        (tmp_path / name).write_bytes(b"")
    assert list(list_data_files(tmp_path)) == [0, 2, 10]


# --------------------------------------------------------------------------------------------
# the zarr view
# --------------------------------------------------------------------------------------------


def test_zarr_view_reads_the_same_bytes_as_the_files(tmp_path: Path) -> None:
    meta = _metadata(units=3, per_unit=37, max_file_size=16 * 25)  # 111 labels, last file 11 labels
    data = _write_plain_directory(tmp_path, meta)
    write_zarr_metadata(tmp_path, meta)
    array = open_zarr_array(tmp_path)
    assert array.shape == (111, 16) and array.chunks == (25, 16) and array.dtype == np.uint8
    assert np.array_equal(array[:], data)
    assert np.array_equal(array[20:80], data[20:80])
    assert np.array_equal(array[105:], data[105:])  # inside the short last file (padded on read)
    assert np.array_equal(LabelStore(tmp_path).get_zarr_array()[3:9, 2:5], data[3:9, 2:5])


def test_plain_post_rs_directory_opens_without_changes(tmp_path: Path) -> None:
    meta = _metadata()
    data = _write_plain_directory(tmp_path, meta)
    before = sorted(os.listdir(tmp_path))
    array = open_zarr_array(tmp_path)
    assert np.array_equal(array[:], data)
    assert sorted(os.listdir(tmp_path)) == before  # no zarr.json written
    assert zarr.open_array(store=PostDataStore(tmp_path, read_only=True), mode="r").shape == (100, 16)


def test_zarr_json_is_valid_zarr_v3(tmp_path: Path) -> None:
    meta = _metadata()
    document = json.loads(compute_zarr_metadata(meta))
    assert document["zarr_format"] == 3 and document["node_type"] == "array"
    assert document["shape"] == [100, 16] and document["data_type"] == "uint8"
    assert document["codecs"] == [{"name": "bytes"}]  # no compression: chunks are the raw files
    write_metadata(tmp_path, meta)
    write_zarr_metadata(tmp_path, meta)
    array = zarr.open_array(store=PostDataStore(tmp_path), mode="r")
    assert array.chunks == (32, 16)
    assert array.metadata.dimension_names == ("label", "byte")  # type: ignore[union-attr]


def test_writing_through_zarr_produces_post_rs_files(tmp_path: Path) -> None:
    meta = _metadata(units=3, per_unit=37, max_file_size=16 * 25)
    plain = tmp_path / "plain"
    data = _write_plain_directory(plain, meta, seed=9)
    through_zarr = tmp_path / "zarr"
    through_zarr.mkdir()
    write_metadata(through_zarr, meta)
    write_zarr_metadata(through_zarr, meta)
    array = open_zarr_array(through_zarr, mode="r+")
    array[:] = data
    for k in range(meta.num_files):
        assert get_data_file_path(through_zarr, k).read_bytes() == get_data_file_path(plain, k).read_bytes()
    assert get_data_file_path(through_zarr, 4).stat().st_size == 11 * 16  # the last file stays short
    array[0:25] = 0  # an all-zero chunk is still a data file (zarr would skip "empty" chunks)
    assert get_data_file_path(through_zarr, 0).read_bytes() == bytes(25 * 16)
    leftovers = [n for n in os.listdir(through_zarr) if n.endswith(".tmp")]
    assert leftovers == []


def test_read_only_view_rejects_writes(tmp_path: Path) -> None:
    meta = _metadata()
    _write_plain_directory(tmp_path, meta)
    array = open_zarr_array(tmp_path)
    with pytest.raises(ValueError):
        array[0:2] = 1


async def test_store_keys_and_listing(tmp_path: Path) -> None:
    meta = _metadata()
    _write_plain_directory(tmp_path, meta)
    store = PostDataStore(tmp_path)
    keys = [key async for key in store.list()]
    assert keys == ["zarr.json", "c/0/0", "c/1/0", "c/2/0", "c/3/0"]
    assert [key async for key in store.list_dir("")] == ["zarr.json", "c"]
    assert [key async for key in store.list_dir("c")] == ["0", "1", "2", "3"]
    assert [key async for key in store.list_prefix("c/1")] == ["c/1/0"]
    assert await store.exists("c/3/0") and not await store.exists("c/4/0")
    assert await store.get("c/9/0") is None and await store.get("other") is None
    from zarr.abc.store import RangeByteRequest, SuffixByteRequest
    from zarr.core.buffer import default_buffer_prototype

    proto = default_buffer_prototype()
    whole = await store.get("c/3/0", proto)
    assert whole is not None and len(whole) == 32 * 16  # padded to a full chunk
    part = await store.get("c/1/0", proto, RangeByteRequest(16, 48))
    assert part is not None and part.to_bytes() == get_data_file_path(tmp_path, 1).read_bytes()[16:48]
    tail = await store.get("c/0/0", proto, SuffixByteRequest(16))
    assert tail is not None and tail.to_bytes() == get_data_file_path(tmp_path, 0).read_bytes()[-16:]
    with pytest.raises(PostDataError):
        await store.set("unrelated", proto.buffer.from_bytes(b"x"))
    await store.delete("c/3/0")
    assert not get_data_file_path(tmp_path, 3).exists()
    assert store == PostDataStore(tmp_path) and store != PostDataStore(tmp_path / "x")

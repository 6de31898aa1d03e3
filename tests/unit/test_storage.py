"""State and local storage: round trips, idempotence, atomic layers, revert, restart, migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from spacemesh_core.storage import LocalStore, MigrationError, StateStore, StorageError
from spacemesh_core.storage.database import Database
from spacemesh_core.storage.local import NipostState, PoetRegistration
from spacemesh_core.storage.state import (
    STATE_MIGRATIONS,
    AccountRecord,
    AtxRecord,
    BallotRecord,
    RewardRecord,
    TransactionRecord,
)


def atx(i: int, epoch: int = 2, node: bytes | None = None) -> AtxRecord:
    return AtxRecord(bytes([i]) * 32, epoch, node or bytes([100 + i]) * 32, 4, 10, 40, 1.5, b"atx%d" % i)


def test_atxs_round_trip_and_one_per_identity_and_epoch() -> None:
    store = StateStore()
    assert store.add_atx(atx(1)) and not store.add_atx(atx(1))
    store.add_atx(atx(2))
    store.add_atx(atx(3, epoch=3, node=atx(1).node_id))
    assert store.get_atx(atx(1).id) == atx(1)
    assert store.get_atx_ids_in_epoch(2) == [atx(1).id, atx(2).id]
    assert store.get_atx_of_node(atx(1).node_id, 3) == atx(3, epoch=3, node=atx(1).node_id)
    assert store.get_last_atx_of_node(atx(1).node_id).publish_epoch == 3  # type: ignore[union-attr]
    with pytest.raises(sqlite3.IntegrityError):
        store.add_atx(atx(9, node=atx(1).node_id))  # a second ATX in epoch 2: malfeasance, not storage
    assert store.get_atx(atx(9).id) is None


def test_ballots_blocks_certificates_and_layers() -> None:
    store = StateStore()
    ballot = BallotRecord(b"b" * 32, 7, b"n" * 32, b"a" * 32, b"blob")
    assert store.add_ballot(ballot) and not store.add_ballot(ballot)
    assert store.get_ballots_in_layer(7) == [ballot] == store.get_ballots_of_node(b"n" * 32, 7)
    assert store.add_block(b"k" * 20, 7, b"block") and not store.add_block(b"k" * 20, 7, b"block")
    assert store.get_block(b"k" * 20).validity is None  # type: ignore[union-attr]
    store.set_block_validity(b"k" * 20, True)
    assert store.get_blocks_in_layer(7)[0].validity is True
    with pytest.raises(KeyError):
        store.set_block_validity(b"x" * 20, False)
    store.add_certificate(7, b"k" * 20, b"cert")
    store.add_certificate(7, b"k" * 20, b"cert")
    assert store.get_certificates(7) == [(b"k" * 20, b"cert")]
    store.set_hare_output(7, b"k" * 20)
    assert store.get_layer(7).hare_output == b"k" * 20 and store.get_layer(7).hare_done
    store.set_hare_output(8, None)
    assert store.get_layer(8).hare_done and store.get_layer(8).hare_output is None
    assert not store.get_layer(9).hare_done


def test_apply_and_revert_layers() -> None:
    store = StateStore()
    alice, bob = b"A" * 24, b"B" * 24
    tx = TransactionRecord(b"t" * 32, alice, 0, b"tx")
    store.add_transaction(tx)
    store.apply_layer(1, None, b"h1" * 16, [AccountRecord(alice, 1, 0, 100)], [RewardRecord(alice, 1, 100, 100)], [])
    store.apply_layer(
        2, b"k" * 20, b"h2" * 16,
        [AccountRecord(alice, 2, 1, 40), AccountRecord(bob, 2, 0, 59)],
        [RewardRecord(bob, 2, 5, 4)],
        [(tx.id, 1)],
    )
    assert store.get_account(alice).balance == 40  # type: ignore[union-attr]
    assert store.get_account(alice, layer=1).balance == 100  # type: ignore[union-attr]
    assert [a.address for a in store.get_accounts()] == [alice, bob]
    assert store.get_transaction(tx.id).result == 1  # type: ignore[union-attr]
    assert store.get_last_applied_layer() == 2
    assert store.get_state_hashes() == {1: b"h1" * 16, 2: b"h2" * 16}
    store.revert_to_layer(1)
    assert store.get_account(alice).balance == 100  # type: ignore[union-attr]
    assert store.get_account(bob) is None
    assert store.get_rewards(bob) == []
    assert store.get_transaction(tx.id) == tx
    assert store.get_last_applied_layer() == 1


def test_a_failed_apply_leaves_no_trace() -> None:
    store = StateStore()
    with pytest.raises(ValueError, match="layer 5 given while applying 3"):
        store.apply_layer(3, None, b"h" * 32, [AccountRecord(b"A" * 24, 3, 0, 1), AccountRecord(b"B" * 24, 5, 0, 1)],
                          [], [])
    assert store.get_accounts() == [] and store.get_last_applied_layer() is None


def test_beacons_active_sets_malfeasance_and_poet_proofs() -> None:
    store = StateStore()
    store.set_beacon(3, b"\x01\x02\x03\x04")
    assert store.get_beacon(3) == b"\x01\x02\x03\x04" and store.get_beacon(4) is None
    with pytest.raises(ValueError):
        store.set_beacon(3, b"\x01")
    store.add_active_set(b"s" * 32, 3, b"set")
    assert store.get_active_set(b"s" * 32) == b"set"
    assert store.add_malfeasance_proof(b"m" * 32, b"proof", 1.0)
    assert not store.add_malfeasance_proof(b"m" * 32, b"other", 2.0)
    assert store.is_malicious(b"m" * 32) and store.get_malfeasance_proof(b"m" * 32) == b"proof"
    assert store.get_malicious_ids() == [b"m" * 32] and not store.is_malicious(b"z" * 32)
    store.add_poet_proof(b"r" * 32, "7", b"poet")
    assert store.get_poet_proof(b"r" * 32) == ("7", b"poet")


def test_state_survives_a_restart_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "state.sql"
    store = StateStore(path)
    assert store.db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.add_atx(atx(1))
    store.apply_layer(1, None, b"h" * 32, [AccountRecord(b"A" * 24, 1, 0, 7)], [], [])
    store.close()
    again = StateStore(path)
    assert again.get_atx(atx(1).id) == atx(1)
    assert again.get_account(b"A" * 24).balance == 7  # type: ignore[union-attr]
    assert again.db.get_version() == len(STATE_MIGRATIONS)
    again.close()


def test_migrations_upgrade_refuse_newer_and_roll_back(tmp_path: Path) -> None:
    path = tmp_path / "db.sql"
    Database(path, ["CREATE TABLE t (x INTEGER)"]).close()
    upgraded = Database(path, ["CREATE TABLE t (x INTEGER)", "ALTER TABLE t ADD COLUMN y INTEGER"])
    assert upgraded.get_version() == 2
    upgraded.conn.execute("INSERT INTO t VALUES (1, 2)")
    upgraded.close()
    with pytest.raises(StorageError, match="newer than this node knows"):
        Database(path, ["CREATE TABLE t (x INTEGER)"])
    with pytest.raises(MigrationError, match="from version 2 to 3"):
        Database(path, ["CREATE TABLE t (x INTEGER)", "ALTER TABLE t ADD COLUMN y INTEGER",
                        "CREATE TABLE u (a INTEGER); CREATE TABLE t (dup INTEGER)"])
    check = Database(path, ["CREATE TABLE t (x INTEGER)", "ALTER TABLE t ADD COLUMN y INTEGER"])
    assert check.get_version() == 2
    tables = {r[0] for r in check.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "u" not in tables  # the failed migration's first statement was rolled back too
    check.close()


def test_local_store_phases_and_registrations(tmp_path: Path) -> None:
    path = tmp_path / "local.sql"
    local = LocalStore(path)
    node = b"n" * 32
    local.set_nipost_state(NipostState(node, 3, "poet_registered", b"challenge"))
    registration = PoetRegistration(node, "http://poet", "5", b"c" * 32, 10.0)
    assert local.add_poet_registration(registration) and not local.add_poet_registration(registration)
    local.close()
    local = LocalStore(path)
    assert local.get_nipost_state(node) == NipostState(node, 3, "poet_registered", b"challenge")
    assert local.get_poet_registrations(node) == [registration]
    local.clear_nipost_state(node)
    assert local.get_nipost_state(node) is None and local.get_poet_registrations(node) == []
    local.close()


def test_storage_plugins_are_registered() -> None:
    from spacemesh_core.config import build_config
    from spacemesh_core.kernel.plugins import load_plugin_manager

    plugins = load_plugin_manager(environ={})
    registries = plugins.get_registries()
    assert registries.get_default_name("state_storage") == "sqlite"
    memory = registries.get("state_storage", "memory").factory(None)
    memory.state.set_beacon(1, b"abcd")
    assert memory.state.get_beacon(1) == b"abcd"
    memory.close()
    config = build_config(plugins.get_config_schema(), preset="devnet", environ={})
    assert config.node.data_dir

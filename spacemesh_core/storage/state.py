"""The chain state (``state.sql``): everything a restarted node needs to continue where it stopped.

Objects are stored as their SCALE bytes (``blob``) next to the columns queries need. Accounts are
versioned by layer so that applying and reverting layers (the tortoise can change its mind) is a
matter of adding and deleting rows.
"""

from __future__ import annotations

from pathlib import Path

import attrs

from spacemesh_core.storage.database import Database

#: a 32-byte zero id as an SQLite literal (ADD COLUMN accepts only constant defaults)
_ZERO_ID_SQL = "x'" + "00" * 32 + "'"

STATE_MIGRATIONS: tuple[str, ...] = (
    # version 0 -> 1: the initial schema
    """
    CREATE TABLE atxs (
        id BLOB PRIMARY KEY, publish_epoch INTEGER NOT NULL, node_id BLOB NOT NULL,
        num_units INTEGER NOT NULL, tick_count INTEGER NOT NULL, weight INTEGER NOT NULL,
        received REAL NOT NULL, blob BLOB NOT NULL
    );
    CREATE INDEX atxs_by_epoch ON atxs (publish_epoch);
    CREATE UNIQUE INDEX atxs_by_node_epoch ON atxs (node_id, publish_epoch);
    CREATE TABLE ballots (
        id BLOB PRIMARY KEY, layer INTEGER NOT NULL, node_id BLOB NOT NULL, atx_id BLOB NOT NULL,
        blob BLOB NOT NULL
    );
    CREATE INDEX ballots_by_layer ON ballots (layer);
    CREATE INDEX ballots_by_node_layer ON ballots (node_id, layer);
    CREATE TABLE blocks (
        id BLOB PRIMARY KEY, layer INTEGER NOT NULL, validity INTEGER, blob BLOB NOT NULL
    );
    CREATE INDEX blocks_by_layer ON blocks (layer);
    CREATE TABLE certificates (
        layer INTEGER NOT NULL, block_id BLOB NOT NULL, blob BLOB NOT NULL, PRIMARY KEY (layer, block_id)
    );
    CREATE TABLE layers (
        id INTEGER PRIMARY KEY, hare_output BLOB, hare_done INTEGER NOT NULL DEFAULT 0,
        applied_block BLOB, state_hash BLOB
    );
    CREATE TABLE accounts (
        address BLOB NOT NULL, layer INTEGER NOT NULL, next_nonce INTEGER NOT NULL,
        balance INTEGER NOT NULL, template BLOB, state BLOB, PRIMARY KEY (address, layer)
    );
    CREATE TABLE rewards (
        coinbase BLOB NOT NULL, layer INTEGER NOT NULL, total INTEGER NOT NULL,
        layer_reward INTEGER NOT NULL, PRIMARY KEY (coinbase, layer)
    );
    CREATE TABLE transactions (
        id BLOB PRIMARY KEY, principal BLOB NOT NULL, nonce INTEGER NOT NULL, blob BLOB NOT NULL,
        layer INTEGER, block_id BLOB, result INTEGER
    );
    CREATE INDEX transactions_by_principal ON transactions (principal, nonce);
    CREATE TABLE beacons (epoch INTEGER PRIMARY KEY, beacon BLOB NOT NULL);
    CREATE TABLE active_sets (id BLOB PRIMARY KEY, epoch INTEGER NOT NULL, blob BLOB NOT NULL);
    CREATE TABLE malfeasance (node_id BLOB PRIMARY KEY, proof BLOB NOT NULL, received REAL NOT NULL);
    CREATE TABLE poet_proofs (ref BLOB PRIMARY KEY, round_id TEXT NOT NULL, blob BLOB NOT NULL)
    """,
    # version 1 -> 2: the derived ATX header fields the activation handler and builder query
    # (protocol.md §2.2): tick heights, the chain links, the commitment and VRF nonce in force.
    f"""
    ALTER TABLE atxs ADD COLUMN base_tick_height INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE atxs ADD COLUMN tick_height INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE atxs ADD COLUMN sequence INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE atxs ADD COLUMN prev_atx_id BLOB NOT NULL DEFAULT {_ZERO_ID_SQL};
    ALTER TABLE atxs ADD COLUMN positioning_atx_id BLOB NOT NULL DEFAULT {_ZERO_ID_SQL};
    ALTER TABLE atxs ADD COLUMN commitment_atx_id BLOB NOT NULL DEFAULT {_ZERO_ID_SQL};
    ALTER TABLE atxs ADD COLUMN coinbase BLOB NOT NULL DEFAULT x'';
    ALTER TABLE atxs ADD COLUMN vrf_nonce INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX atxs_by_node_prev ON atxs (node_id, prev_atx_id);
    CREATE INDEX atxs_by_epoch_tick_height ON atxs (publish_epoch, tick_height)
    """,
)

_ZERO_ID = bytes(32)


@attrs.frozen
class AtxRecord:
    """An activation as stored: identity, epoch, space, ticks, weight and the encoded ATX."""

    id: bytes
    publish_epoch: int
    node_id: bytes
    num_units: int
    tick_count: int
    weight: int
    received: float
    blob: bytes
    #: derived header fields (schema version 2); ``num_units`` above is the *effective* count
    base_tick_height: int = 0
    tick_height: int = 0
    sequence: int = 0
    prev_atx_id: bytes = _ZERO_ID
    positioning_atx_id: bytes = _ZERO_ID
    commitment_atx_id: bytes = _ZERO_ID
    coinbase: bytes = b""
    vrf_nonce: int = 0


_ATX_COLUMNS = (
    "id, publish_epoch, node_id, num_units, tick_count, weight, received, blob, base_tick_height, tick_height, "
    "sequence, prev_atx_id, positioning_atx_id, commitment_atx_id, coinbase, vrf_nonce"
)


@attrs.frozen
class BallotRecord:
    """A ballot as stored."""

    id: bytes
    layer: int
    node_id: bytes
    atx_id: bytes
    blob: bytes


@attrs.frozen
class BlockRecord:
    """A block as stored; ``validity`` is None until the tortoise decides."""

    id: bytes
    layer: int
    validity: bool | None
    blob: bytes


@attrs.frozen
class LayerRecord:
    """What is known about a layer: hare output, applied block and the resulting state hash."""

    layer: int
    hare_output: bytes | None
    hare_done: bool
    applied_block: bytes | None
    state_hash: bytes | None


@attrs.frozen
class AccountRecord:
    """An account's state as of ``layer``."""

    address: bytes
    layer: int
    next_nonce: int
    balance: int
    template: bytes | None = None
    state: bytes | None = None


@attrs.frozen
class RewardRecord:
    """A reward paid to ``coinbase`` in ``layer`` (``total`` = layer reward + fees)."""

    coinbase: bytes
    layer: int
    total: int
    layer_reward: int


@attrs.frozen
class TransactionRecord:
    """A transaction and, once a block carrying it is applied, where and with what result."""

    id: bytes
    principal: bytes
    nonce: int
    blob: bytes
    layer: int | None = None
    block_id: bytes | None = None
    result: int | None = None


class StateStore:
    """Typed access to ``state.sql``. Every write is one transaction."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.db = Database(path, STATE_MIGRATIONS)

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    # -- ATXs ----------------------------------------------------------------------------------

    def add_atx(self, atx: AtxRecord) -> bool:
        """Store ``atx``; return False when it was already stored (nothing changes then).

        :raises sqlite3.IntegrityError: a second ATX of the same identity in the same epoch
            (that is malfeasance: the caller must build a proof instead of storing it).
        """
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM atxs WHERE id = ?", (atx.id,)).fetchone():
                return False
            conn.execute(
                f"INSERT INTO atxs ({_ATX_COLUMNS}) VALUES ({', '.join('?' * 16)})",
                attrs.astuple(atx),
            )
        return True

    def get_atx(self, atx_id: bytes) -> AtxRecord | None:
        """Return the ATX ``atx_id`` or None."""
        row = self.db.conn.execute(f"SELECT {_ATX_COLUMNS} FROM atxs WHERE id = ?", (atx_id,)).fetchone()
        return AtxRecord(*row) if row else None

    def get_atx_ids_in_epoch(self, publish_epoch: int) -> list[bytes]:
        """Return the ids of ATXs published in ``publish_epoch``, sorted."""
        rows = self.db.conn.execute(
            "SELECT id FROM atxs WHERE publish_epoch = ? ORDER BY id", (publish_epoch,)
        ).fetchall()
        return [r[0] for r in rows]

    def get_atx_of_node(self, node_id: bytes, publish_epoch: int) -> AtxRecord | None:
        """Return ``node_id``'s ATX published in ``publish_epoch`` or None."""
        row = self.db.conn.execute(
            f"SELECT {_ATX_COLUMNS} FROM atxs WHERE node_id = ? AND publish_epoch = ?", (node_id, publish_epoch)
        ).fetchone()
        return AtxRecord(*row) if row else None

    def get_last_atx_of_node(self, node_id: bytes) -> AtxRecord | None:
        """Return ``node_id``'s most recent ATX or None."""
        row = self.db.conn.execute(
            f"SELECT {_ATX_COLUMNS} FROM atxs WHERE node_id = ? ORDER BY publish_epoch DESC LIMIT 1", (node_id,)
        ).fetchone()
        return AtxRecord(*row) if row else None

    def get_atx_with_prev(self, node_id: bytes, prev_atx_id: bytes) -> list[AtxRecord]:
        """Return ``node_id``'s ATXs that name ``prev_atx_id`` as their previous ATX (more than one,
        or one that is not the smesher's latest, is an InvalidPrevATX malfeasance)."""
        rows = self.db.conn.execute(
            f"SELECT {_ATX_COLUMNS} FROM atxs WHERE node_id = ? AND prev_atx_id = ? ORDER BY publish_epoch, id",
            (node_id, prev_atx_id),
        ).fetchall()
        return [AtxRecord(*r) for r in rows]

    def get_highest_tick_atx(self, before_epoch: int, exclude_malicious: bool = True) -> AtxRecord | None:
        """Return the ATX with the highest tick height published before ``before_epoch`` (ties: the
        smallest id), skipping identities with a malfeasance proof unless told otherwise; None if none."""
        malicious = "AND node_id NOT IN (SELECT node_id FROM malfeasance)" if exclude_malicious else ""
        row = self.db.conn.execute(
            f"SELECT {_ATX_COLUMNS} FROM atxs WHERE publish_epoch < ? {malicious} "
            "ORDER BY tick_height DESC, id ASC LIMIT 1",
            (before_epoch,),
        ).fetchone()
        return AtxRecord(*row) if row else None

    # -- ballots and blocks --------------------------------------------------------------------

    def add_ballot(self, ballot: BallotRecord) -> bool:
        """Store ``ballot``; return False when it was already stored."""
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO ballots VALUES (?, ?, ?, ?, ?)",
                (ballot.id, ballot.layer, ballot.node_id, ballot.atx_id, ballot.blob),
            )
        return cursor.rowcount == 1

    def get_ballot(self, ballot_id: bytes) -> BallotRecord | None:
        """Return ballot ``ballot_id`` or None."""
        row = self.db.conn.execute("SELECT * FROM ballots WHERE id = ?", (ballot_id,)).fetchone()
        return BallotRecord(*row) if row else None

    def get_ballots_in_layer(self, layer: int) -> list[BallotRecord]:
        """Return the ballots of ``layer``, by id."""
        rows = self.db.conn.execute("SELECT * FROM ballots WHERE layer = ? ORDER BY id", (layer,)).fetchall()
        return [BallotRecord(*r) for r in rows]

    def get_ballots_of_node(self, node_id: bytes, layer: int) -> list[BallotRecord]:
        """Return ``node_id``'s ballots in ``layer`` (more than one is equivocation)."""
        rows = self.db.conn.execute(
            "SELECT * FROM ballots WHERE node_id = ? AND layer = ? ORDER BY id", (node_id, layer)
        ).fetchall()
        return [BallotRecord(*r) for r in rows]

    def add_block(self, block_id: bytes, layer: int, blob: bytes) -> bool:
        """Store a block; return False when it was already stored."""
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO blocks (id, layer, validity, blob) VALUES (?, ?, NULL, ?)",
                (block_id, layer, blob),
            )
        return cursor.rowcount == 1

    def get_block(self, block_id: bytes) -> BlockRecord | None:
        """Return block ``block_id`` or None."""
        row = self.db.conn.execute("SELECT * FROM blocks WHERE id = ?", (block_id,)).fetchone()
        return BlockRecord(row[0], row[1], None if row[2] is None else bool(row[2]), row[3]) if row else None

    def get_blocks_in_layer(self, layer: int) -> list[BlockRecord]:
        """Return the blocks of ``layer``, by id."""
        rows = self.db.conn.execute("SELECT * FROM blocks WHERE layer = ? ORDER BY id", (layer,)).fetchall()
        return [BlockRecord(r[0], r[1], None if r[2] is None else bool(r[2]), r[3]) for r in rows]

    def set_block_validity(self, block_id: bytes, valid: bool) -> None:
        """Record the tortoise's verdict on a block.

        :raises KeyError: for an unknown block.
        """
        with self.db.transaction() as conn:
            cursor = conn.execute("UPDATE blocks SET validity = ? WHERE id = ?", (int(valid), block_id))
            if cursor.rowcount != 1:
                raise KeyError(f"unknown block {block_id.hex()}")

    def add_certificate(self, layer: int, block_id: bytes, blob: bytes) -> None:
        """Store a block certificate (idempotent)."""
        with self.db.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO certificates VALUES (?, ?, ?)", (layer, block_id, blob))

    def get_certificates(self, layer: int) -> list[tuple[bytes, bytes]]:
        """Return ``(block id, certificate bytes)`` pairs of ``layer``."""
        rows = self.db.conn.execute(
            "SELECT block_id, blob FROM certificates WHERE layer = ? ORDER BY block_id", (layer,)
        ).fetchall()
        return [(r[0], r[1]) for r in rows]

    def get_last_certified_layer(self) -> int | None:
        """Return the highest layer holding a block certificate, or None before the first."""
        row = self.db.conn.execute("SELECT MAX(layer) FROM certificates").fetchone()
        return row[0]

    # -- layers --------------------------------------------------------------------------------

    def set_hare_output(self, layer: int, block_id: bytes | None) -> None:
        """Record hare's output for ``layer`` (None: hare ended without a block)."""
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO layers (id, hare_output, hare_done) VALUES (?, ?, 1) "
                "ON CONFLICT(id) DO UPDATE SET hare_output = excluded.hare_output, hare_done = 1",
                (layer, block_id),
            )

    def get_layer(self, layer: int) -> LayerRecord:
        """Return what is known about ``layer`` (an empty record for an unknown one)."""
        row = self.db.conn.execute(
            "SELECT id, hare_output, hare_done, applied_block, state_hash FROM layers WHERE id = ?", (layer,)
        ).fetchone()
        if row is None:
            return LayerRecord(layer, None, False, None, None)
        return LayerRecord(row[0], row[1], bool(row[2]), row[3], row[4])

    def get_last_applied_layer(self) -> int | None:
        """Return the highest layer with a state hash, or None before the first."""
        row = self.db.conn.execute("SELECT MAX(id) FROM layers WHERE state_hash IS NOT NULL").fetchone()
        return row[0]

    def get_state_hashes(self) -> dict[int, bytes]:
        """Return the state hash of every applied layer."""
        rows = self.db.conn.execute("SELECT id, state_hash FROM layers WHERE state_hash IS NOT NULL ORDER BY id")
        return {r[0]: r[1] for r in rows}

    def apply_layer(
        self,
        layer: int,
        block_id: bytes | None,
        state_hash: bytes,
        accounts: list[AccountRecord],
        rewards: list[RewardRecord],
        tx_results: list[tuple[bytes, int]],
    ) -> None:
        """Record the result of applying ``layer`` in one transaction: the new account versions,
        rewards, transaction results and the layer's state hash.

        :raises ValueError: when an account record is for another layer.
        """
        with self.db.transaction() as conn:
            for acc in accounts:
                if acc.layer != layer:
                    raise ValueError(f"account version for layer {acc.layer} given while applying {layer}")
                conn.execute(
                    "INSERT OR REPLACE INTO accounts VALUES (?, ?, ?, ?, ?, ?)",
                    (acc.address, acc.layer, acc.next_nonce, acc.balance, acc.template, acc.state),
                )
            for reward in rewards:
                conn.execute(
                    "INSERT OR REPLACE INTO rewards VALUES (?, ?, ?, ?)",
                    (reward.coinbase, layer, reward.total, reward.layer_reward),
                )
            for tx_id, result in tx_results:
                conn.execute(
                    "UPDATE transactions SET layer = ?, block_id = ?, result = ? WHERE id = ?",
                    (layer, block_id, result, tx_id),
                )
            conn.execute(
                "INSERT INTO layers (id, applied_block, state_hash) VALUES (?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET applied_block = excluded.applied_block, "
                "state_hash = excluded.state_hash",
                (layer, block_id, state_hash),
            )

    def revert_to_layer(self, layer: int) -> None:
        """Undo everything applied after ``layer`` (accounts, rewards, tx results, state hashes)."""
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM accounts WHERE layer > ?", (layer,))
            conn.execute("DELETE FROM rewards WHERE layer > ?", (layer,))
            conn.execute(
                "UPDATE transactions SET layer = NULL, block_id = NULL, result = NULL WHERE layer > ?", (layer,)
            )
            conn.execute("UPDATE layers SET applied_block = NULL, state_hash = NULL WHERE id > ?", (layer,))

    # -- accounts, rewards, transactions ------------------------------------------------------

    def get_account(self, address: bytes, layer: int | None = None) -> AccountRecord | None:
        """Return ``address``'s latest state at or before ``layer`` (latest overall when None)."""
        query = "SELECT * FROM accounts WHERE address = ?"
        params: tuple[object, ...] = (address,)
        if layer is not None:
            query += " AND layer <= ?"
            params += (layer,)
        row = self.db.conn.execute(query + " ORDER BY layer DESC LIMIT 1", params).fetchone()
        return AccountRecord(*row) if row else None

    def get_accounts(self, layer: int | None = None) -> list[AccountRecord]:
        """Return every account's latest state at or before ``layer``, by address."""
        bound = "WHERE layer <= ?" if layer is not None else ""
        params: tuple[object, ...] = (layer,) if layer is not None else ()
        rows = self.db.conn.execute(
            f"SELECT a.* FROM accounts a JOIN (SELECT address, MAX(layer) AS layer FROM accounts {bound} "
            "GROUP BY address) latest USING (address, layer) ORDER BY a.address",
            params,
        ).fetchall()
        return [AccountRecord(*r) for r in rows]

    def get_rewards(self, coinbase: bytes) -> list[RewardRecord]:
        """Return the rewards paid to ``coinbase``, by layer."""
        rows = self.db.conn.execute(
            "SELECT coinbase, layer, total, layer_reward FROM rewards WHERE coinbase = ? ORDER BY layer",
            (coinbase,),
        ).fetchall()
        return [RewardRecord(*r) for r in rows]

    def add_transaction(self, tx: TransactionRecord) -> bool:
        """Store a received transaction; return False when it was already stored."""
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO transactions (id, principal, nonce, blob) VALUES (?, ?, ?, ?)",
                (tx.id, tx.principal, tx.nonce, tx.blob),
            )
        return cursor.rowcount == 1

    def get_transaction(self, tx_id: bytes) -> TransactionRecord | None:
        """Return transaction ``tx_id`` or None."""
        row = self.db.conn.execute("SELECT * FROM transactions WHERE id = ?", (tx_id,)).fetchone()
        return TransactionRecord(*row) if row else None

    def get_transactions_of(self, principal: bytes) -> list[TransactionRecord]:
        """Return ``principal``'s transactions by nonce."""
        rows = self.db.conn.execute(
            "SELECT * FROM transactions WHERE principal = ? ORDER BY nonce, id", (principal,)
        ).fetchall()
        return [TransactionRecord(*r) for r in rows]

    # -- beacons, active sets, malfeasance, PoET proofs ---------------------------------------

    def set_beacon(self, epoch: int, beacon: bytes) -> None:
        """Record the beacon of ``epoch`` (4 bytes).

        :raises ValueError: for a beacon of another size.
        """
        if len(beacon) != 4:
            raise ValueError(f"a beacon has 4 bytes, not {len(beacon)}")
        with self.db.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO beacons VALUES (?, ?)", (epoch, beacon))

    def get_beacon(self, epoch: int) -> bytes | None:
        """Return the beacon of ``epoch`` or None."""
        row = self.db.conn.execute("SELECT beacon FROM beacons WHERE epoch = ?", (epoch,)).fetchone()
        return row[0] if row else None

    def add_active_set(self, set_id: bytes, epoch: int, blob: bytes) -> None:
        """Store an active set (idempotent)."""
        with self.db.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO active_sets VALUES (?, ?, ?)", (set_id, epoch, blob))

    def get_active_set(self, set_id: bytes) -> bytes | None:
        """Return the encoded active set ``set_id`` or None."""
        row = self.db.conn.execute("SELECT blob FROM active_sets WHERE id = ?", (set_id,)).fetchone()
        return row[0] if row else None

    def add_malfeasance_proof(self, node_id: bytes, proof: bytes, received: float) -> bool:
        """Store the first proof against ``node_id``; return False if one was already stored."""
        with self.db.transaction() as conn:
            cursor = conn.execute("INSERT OR IGNORE INTO malfeasance VALUES (?, ?, ?)", (node_id, proof, received))
        return cursor.rowcount == 1

    def get_malfeasance_proof(self, node_id: bytes) -> bytes | None:
        """Return the proof against ``node_id`` or None."""
        row = self.db.conn.execute("SELECT proof FROM malfeasance WHERE node_id = ?", (node_id,)).fetchone()
        return row[0] if row else None

    def is_malicious(self, node_id: bytes) -> bool:
        """Return whether a malfeasance proof against ``node_id`` is stored."""
        return self.get_malfeasance_proof(node_id) is not None

    def get_malicious_ids(self) -> list[bytes]:
        """Return every identity with a stored malfeasance proof."""
        return [r[0] for r in self.db.conn.execute("SELECT node_id FROM malfeasance ORDER BY node_id")]

    def add_poet_proof(self, ref: bytes, round_id: str, blob: bytes) -> None:
        """Store a PoET proof under its reference (idempotent)."""
        with self.db.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO poet_proofs VALUES (?, ?, ?)", (ref, round_id, blob))

    def get_poet_proof(self, ref: bytes) -> tuple[str, bytes] | None:
        """Return ``(round id, proof bytes)`` of PoET proof ``ref`` or None."""
        row = self.db.conn.execute("SELECT round_id, blob FROM poet_proofs WHERE ref = ?", (ref,)).fetchone()
        return (row[0], row[1]) if row else None

"""Configuration sections owned by the core. Defaults are the mainnet values (protocol.md §1.1)."""

from __future__ import annotations

from spacemesh_core.config.schema import ConfigField, ConfigSection

MAINNET_POW_DIFFICULTY = "000dfb23b0979b4b000000000000000000000000000000000000000000000000"

NETWORK = ConfigSection(
    "network",
    {
        "name": ConfigField(str, "mainnet", "network name, informational"),
        "genesis_time": ConfigField(str, "2023-07-14T08:00:00Z", "RFC 3339 time at which layer 0 starts"),
        "genesis_extra_data": ConfigField(
            str,
            "00000000000000000001a6bc150307b5c1998045752b3c87eccf3c013036f3cc",
            "extra data mixed into the golden ATX (mainnet: a Bitcoin block hash)",
        ),
        "layer_duration_s": ConfigField(float, 300.0, "duration of one layer in seconds"),
        "layers_per_epoch": ConfigField(int, 4032, "layers in one epoch"),
        "layer_avg_size": ConfigField(int, 50, "expected number of eligibility slots per layer"),
        "hrp": ConfigField(str, "sm", "bech32 human-readable prefix of addresses"),
        "tick_size": ConfigField(int, 9_331_200, "PoET leaves per tick"),
        "min_active_set_weight": ConfigField(int, 1_000_000, "floor for the active set weight"),
        "txs_per_proposal": ConfigField(int, 700, "transactions per eligibility in a proposal"),
        "block_gas_limit": ConfigField(int, 100_107_000, "gas limit of a block"),
        "atx_grade_delay_s": ConfigField(
            float, 1800.0, "δ of ATX grading: ATXs received 4δ before an epoch starts make its active set"
        ),
        "genesis_accounts": ConfigField(
            list, [], "accounts funded at genesis, each 'hex address=balance in smidge'"
        ),
    },
    "the chain's identity and timing",
)

POST = ConfigSection(
    "post",
    {
        "min_num_units": ConfigField(int, 4, "the fewest space units an identity may commit"),
        "max_num_units": ConfigField(int, 1_000_000, "the most space units an identity may commit"),
        "labels_per_unit": ConfigField(int, 2**32, "labels in one space unit (16 bytes each)"),
        "scrypt_n": ConfigField(int, 8192, "scrypt-jane N of the label function"),
        "k1": ConfigField(int, 26, "K1: the good-label difficulty parameter"),
        "k2": ConfigField(int, 37, "K2: labels a proof must hold"),
        "k3": ConfigField(int, 1, "K3: labels a verifier recomputes"),
        "pow_difficulty": ConfigField(str, MAINNET_POW_DIFFICULTY, "k2pow difficulty (32 bytes hex)"),
        "max_file_size": ConfigField(int, 4 * 2**30, "largest postdata file in bytes"),
    },
    "proof of space-time parameters",
)

POET = ConfigSection(
    "poet",
    {
        "phase_shift_s": ConfigField(float, 240 * 3600.0, "PoET round start offset inside an epoch"),
        "cycle_gap_s": ConfigField(float, 12 * 3600.0, "gap between a round's end and the next start"),
        "grace_period_s": ConfigField(float, 3600.0, "registration grace before a round starts"),
        "servers": ConfigField(list, [], "PoET server URLs the node registers with"),
    },
    "proof of elapsed time",
)

HARE = ConfigSection(
    "hare",
    {
        "committee": ConfigField(int, 50, "hare committee size (400 before layer 105 720 on mainnet)"),
        "leaders": ConfigField(int, 5, "expected leaders of the propose round"),
        "iterations_limit": ConfigField(int, 4, "hare iterations before giving up"),
        "preround_delay_s": ConfigField(float, 25.0, "preround start after the layer starts"),
        "round_duration_s": ConfigField(float, 12.0, "duration of one hare round"),
        "certifier_committee": ConfigField(
            int, 200, "expected seats of a layer's block-certifier committee; a block is certified by more than half"
        ),
    },
    "hare3 agreement",
)

TORTOISE = ConfigSection(
    "tortoise",
    {
        "hdist": ConfigField(int, 10, "layers the tortoise trusts hare output for"),
        "zdist": ConfigField(int, 2, "layers without hare output before a layer counts as empty"),
        "window": ConfigField(int, 4032, "layers kept in the tortoise window"),
        "max_exceptions": ConfigField(int, 1000, "most vote exceptions a ballot may encode"),
        "bad_beacon_vote_delay_layers": ConfigField(int, 4032, "delay for ballots with a bad beacon"),
    },
    "tortoise vote counting",
)

BEACON = ConfigSection(
    "beacon",
    {
        "kappa": ConfigField(int, 40, "security parameter of beacon proposal eligibility"),
        "q": ConfigField(float, 1 / 3, "assumed adversarial fraction"),
        "theta": ConfigField(float, 0.25, "vote margin threshold"),
        "proposal_duration_s": ConfigField(float, 240.0, "proposal phase length"),
        "first_voting_round_duration_s": ConfigField(float, 1800.0, "first voting round length"),
        "rounds": ConfigField(int, 0, "following voting rounds"),
        "voting_round_duration_s": ConfigField(float, 240.0, "length of each following voting round"),
        "weak_coin_round_duration_s": ConfigField(float, 240.0, "length of each weak coin round"),
        "grace_period_s": ConfigField(float, 600.0, "grace for late proposals"),
        "sync_weight_units": ConfigField(
            int, 800, "eligibilities seen in ballots before a node that missed the protocol adopts their beacon"
        ),
    },
    "the random beacon",
)

NODE = ConfigSection(
    "node",
    {
        "data_dir": ConfigField(str, "~/.spacemesh", "folder for the databases, keys and logs"),
        "bundle": ConfigField(str, "default", "the plugin bundle the node runs"),
        "service_stop_timeout_s": ConfigField(float, 10.0, "how long a service may take to stop"),
        "loop_lag_warning_s": ConfigField(float, 0.5, "event-loop lag reported as a stuck service"),
    },
    "the local node",
)

BUS = ConfigSection(
    "bus",
    {
        "max_message_bytes": ConfigField(int, 16 * 2**20, "largest envelope accepted on the bus"),
        "state_high_water_mark": ConfigField(int, 0, "queue bound for state events (0: unbounded, never drop)"),
        "telemetry_high_water_mark": ConfigField(int, 10_000, "queue bound for droppable telemetry events"),
        "request_timeout_s": ConfigField(float, 10.0, "default request/reply timeout"),
    },
    "the ZeroMQ event bus",
)

P2P = ConfigSection(
    "p2p",
    {
        "listen": ConfigField(str, "tcp://0.0.0.0:7513", "endpoint the node accepts peers on"),
        "bootnodes": ConfigField(list, [], "peer addresses (<hex peer id>@tcp://host:port) dialled at start"),
        "max_peers": ConfigField(int, 32, "most peers the node keeps"),
        "peer_exchange": ConfigField(bool, True, "learn peers from peers"),
        "max_message_bytes": ConfigField(int, 4 * 2**20, "largest gossip or request message"),
        "gossip_rate_per_s": ConfigField(float, 500.0, "sustained gossip messages per second per peer"),
        "disconnect_score": ConfigField(float, -50.0, "score at which a peer is disconnected and banned"),
    },
    "peer-to-peer networking (every transport reads it)",
)

CORE_SECTIONS = (NETWORK, POST, POET, HARE, TORTOISE, BEACON, NODE, BUS, P2P)

"""Parameter presets. ``mainnet`` is the section defaults; the others override a few keys.

``devnet`` keeps every algorithm and shrinks sizes and times so a whole network runs on one laptop.
"""

from __future__ import annotations

from typing import Any

from spacemesh_core.config.schema import ConfigError
from spacemesh_core.crypto.address import compute_wallet_principal
from spacemesh_core.crypto.hashes import compute_blake3
from spacemesh_core.crypto.signing import Signer

PresetValues = dict[str, dict[str, Any]]

#: The devnet faucet: a wallet whose key anyone can derive (``get_devnet_faucet_seed``), funded at
#: genesis so that a fresh devnet can move coins before any reward is paid. Never use it elsewhere.
DEVNET_FAUCET_SEED = compute_blake3(b"spacemesh-py devnet faucet")
DEVNET_FAUCET_ADDRESS = compute_wallet_principal(Signer.from_seed(DEVNET_FAUCET_SEED).public_key)
DEVNET_FAUCET_BALANCE = 10**15

MAINNET: PresetValues = {}

TESTNET: PresetValues = {
    "network": {
        "name": "testnet",
        "genesis_time": "2024-09-10T10:00:00Z",
        "genesis_extra_data": "testnet",
        "layers_per_epoch": 288,
        "hrp": "stest",
        "min_active_set_weight": 10_000,
    },
    "post": {"min_num_units": 2, "labels_per_unit": 1024 * 1024, "k3": 37},
    "poet": {"phase_shift_s": 12 * 3600.0, "cycle_gap_s": 2 * 3600.0, "grace_period_s": 600.0},
    "tortoise": {"window": 288, "bad_beacon_vote_delay_layers": 288},
    "beacon": {"first_voting_round_duration_s": 300.0, "proposal_duration_s": 60.0},
}

DEVNET: PresetValues = {
    "network": {
        "name": "devnet",
        "genesis_time": "2026-01-01T00:00:00Z",
        "genesis_extra_data": "spacemesh-py devnet",
        "layer_duration_s": 4.0,
        "layers_per_epoch": 6,
        "layer_avg_size": 5,
        "hrp": "smdev",
        "tick_size": 128,
        "min_active_set_weight": 1,
        "atx_grade_delay_s": 1.0,
        "genesis_accounts": [f"{bytes(DEVNET_FAUCET_ADDRESS).hex()}={DEVNET_FAUCET_BALANCE}"],
    },
    "post": {
        "min_num_units": 1,
        "labels_per_unit": 4096,
        "scrypt_n": 16,
        # with 4096 labels per unit, K1 = 26 would leave most proving passes short of K2 = 37 good
        # labels; 60 makes the first pass succeed, so ATXs are ready within a devnet cycle gap
        "k1": 60,
        "k2": 37,
        "k3": 37,
        "pow_difficulty": "7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "max_file_size": 16 * 4096,
    },
    "poet": {"phase_shift_s": 12.0, "cycle_gap_s": 4.0, "grace_period_s": 1.0},
    # a committee of 50 seats spread over a handful of identities certifies with all honest nodes online
    "hare": {
        "committee": 50,
        "leaders": 5,
        "preround_delay_s": 0.5,
        "round_duration_s": 0.4,
        "certifier_committee": 50,
    },
    "tortoise": {"window": 60, "bad_beacon_vote_delay_layers": 12},
    # the protocol of epoch E (at its first layer) must be done well before E + 1 starts (24 s
    # later) on a loaded machine: 3 s of proposals and 3 s of first votes, no following rounds
    "beacon": {
        "kappa": 40,
        "proposal_duration_s": 3.0,
        "first_voting_round_duration_s": 3.0,
        "rounds": 0,
        "voting_round_duration_s": 1.0,
        "weak_coin_round_duration_s": 1.0,
        "grace_period_s": 2.0,
        "sync_weight_units": 6,
    },
    "node": {"data_dir": "./devnet-data", "bundle": "devnet", "service_stop_timeout_s": 5.0},
    "p2p": {"listen": "tcp://127.0.0.1:0"},
    # sections of plugins: applied when the plugin is loaded (see build_config)
    "smeshing": {"proving_nonces": 16},
    # several devnet nodes share a machine: the API listeners take free ports (see status.json)
    "api": {"public_listener": "127.0.0.1:0", "private_listener": "127.0.0.1:0"},
}

PRESETS: dict[str, PresetValues] = {"mainnet": MAINNET, "testnet": TESTNET, "devnet": DEVNET}


def get_preset(name: str) -> PresetValues:
    """Return the overrides of preset ``name``.

    :raises ConfigError: for an unknown preset, listing the choices.
    """
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choices are: {', '.join(sorted(PRESETS))}")
    return PRESETS[name]

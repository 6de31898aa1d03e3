"""Tests of the tortoise engine: opinion hashes, vote encoding, verifying/full modes, self-healing."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacemesh_core.consensus.tortoise import (
    GENESIS_OPINION,
    SUPPORT,
    WEIGHT_ONE,
    InvalidVotesError,
    OpinionMismatchError,
    Tortoise,
    TortoiseBallot,
    TortoiseConfig,
    UnknownBaseBallotError,
    compute_ballot_weight_units,
    compute_opinion_hash,
)
from spacemesh_core.crypto.hashes import compute_blake3
from spacemesh_core.types.ballot import BlockHeader, Votes
from spacemesh_core.types.primitives import EMPTY_BALLOT_ID

# Known answers of go-spacemesh ``tortoise/opinionhash`` (a sequence of layers, each hashed over the
# previous hash): None = empty layer, "abstain", or supported (id first byte, height) pairs.
OPINION_VECTORS = [
    ([[(1, 10)]], "9792d675f91bda454356c00761f0ee7e4fad33f075f5c02cfd11730f0199f3ed"),
    ([[(1, 100)]], "fdae510822088f67d47f8229d7971212973688d310c87144a154e8b51d787b4e"),
    ([[(1, 100), (2, 100)]], "c0d65bb2f64a870c3f067bbc6e06ded4437ec95616b7bc61ee52fd02fe9468d2"),
    ([None], "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"),
    (["abstain"], "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213"),
    (["abstain", "abstain"], "58716d2accccc68182ffb06de20c77010061d694056defb23d2ad881d9367e16"),
    ([None, None], "82878ed8a480ee41775636820e05a934ca5c747223ca64306658ee5982e6c227"),
    ([[(1, 100)], [(2, 100)]], "88f75279f76898e958fba3409c60cee10967e04910bb97730e286531bbe7a757"),
    ([[(1, 100)], None], "ae4b107c6601034d18eb7b7817a330abe6ba8a82e58265ef503928050730cd14"),
]


@pytest.mark.parametrize(("sequence", "expected"), OPINION_VECTORS)
def test_opinion_hash_matches_reference(sequence: list, expected: str) -> None:
    previous = None
    for item in sequence:
        if item == "abstain":
            opinion = None
        elif item is None:
            opinion = ()
        else:
            opinion = tuple((bytes([first]) + bytes(19), height) for first, height in item)
        previous = compute_opinion_hash(previous, opinion)
    assert previous is not None and previous.hex() == expected


def test_genesis_opinion_is_hash_of_nothing() -> None:
    assert compute_blake3(b"") == GENESIS_OPINION


def test_ballot_weight_units() -> None:
    assert compute_ballot_weight_units(10, 5, 2) == 4 * WEIGHT_ONE
    with pytest.raises(ValueError):
        compute_ballot_weight_units(10, 0, 1)


LPE = 10
GENESIS = 9


def _config(**kw: int) -> TortoiseConfig:
    base = {"hdist": 3, "zdist": 2, "window": 200, "max_exceptions": 100, "bad_beacon_vote_delay": 8,
            "layers_per_epoch": LPE, "effective_genesis": GENESIS}
    base.update(kw)
    return TortoiseConfig(**base)


BEACON = b"\x01\x02\x03\x04"


class MiniNet:
    """Nodes with one tortoise each; every smesher publishes one ballot per layer through a node."""

    def __init__(self, units: list[int], nodes: int = 3, config: TortoiseConfig | None = None) -> None:
        self.config = config or _config()
        self.units = units
        self.nodes = [Tortoise(self.config) for _ in range(nodes)]
        for node in self.nodes:
            for epoch in range(0, 20):
                node.set_epoch_weight(epoch, sum(units))
                node.on_beacon(epoch, BEACON)
        self.counter = 0

    def block_id(self, layer: int, variant: int = 0) -> bytes:
        return compute_blake3(layer.to_bytes(4, "little"), bytes([variant]))[:20]

    def make_ballot(self, node: Tortoise, smesher: int, layer: int, beacon: bytes = BEACON) -> TortoiseBallot:
        encoded = node.encode_votes(layer)
        self.counter += 1
        return TortoiseBallot(
            id=compute_blake3(self.counter.to_bytes(8, "little"))[:20],
            layer=layer,
            smesher_id=bytes([smesher]) * 32,
            atx_id=bytes([smesher + 1]) * 32,
            weight=self.units[smesher] * WEIGHT_ONE // LPE,
            beacon=beacon,
            votes=encoded.votes,
            opinion_hash=encoded.opinion_hash,
        )

    def run_layer(
        self,
        layer: int,
        hare: dict[int, bytes | None] | None = None,
        publishers: dict[int, int] | None = None,
        deliver: dict[int, list[int]] | None = None,
        rng: random.Random | None = None,
    ) -> list[TortoiseBallot]:
        """hare: node -> output (default: everyone outputs the layer's block); publishers: smesher -> node;
        deliver: node -> smeshers whose ballots it receives (default all)."""
        block = self.block_id(layer)
        for index, node in enumerate(self.nodes):
            output = block if hare is None or index not in hare else hare[index]
            if output is not None:
                node.on_block(layer, output, 0)
            node.on_hare_output(layer, output)
        ballots = []
        for smesher in range(len(self.units)):
            via = (publishers or {}).get(smesher, smesher % len(self.nodes))
            ballots.append(self.make_ballot(self.nodes[via], smesher, layer))
        for index, node in enumerate(self.nodes):
            wanted = [b for i, b in enumerate(ballots) if deliver is None or i in deliver.get(index, [])]
            if rng is not None:
                rng.shuffle(wanted)
            for ballot in wanted:
                for header in ballot.votes.support:  # fetch the data of blocks voted for
                    node.on_block(header.layer_id, header.id, header.height)
                node.on_ballot(ballot)
            node.tally_votes(layer)
        return ballots


def test_honest_network_verifies_and_agrees() -> None:
    net = MiniNet([10, 20, 30, 40])
    for layer in range(GENESIS + 1, GENESIS + 16):
        net.run_layer(layer)
    last = GENESIS + 15
    for node in net.nodes:
        assert node.verified == last - 1
        assert not node.full_mode
        for layer in range(GENESIS + 1, last):
            assert node.get_valid_blocks(layer) == [net.block_id(layer)]
    hashes = {node.get_opinion_hash(last - 1) for node in net.nodes}
    assert len(hashes) == 1


def test_encoded_votes_roundtrip_and_base() -> None:
    net = MiniNet([5, 5, 5])
    for layer in range(GENESIS + 1, GENESIS + 6):
        net.run_layer(layer)
    encoded = net.nodes[0].encode_votes(GENESIS + 6)
    assert encoded.votes.base != EMPTY_BALLOT_ID  # a real ballot of the previous layer
    assert encoded.base_layer == GENESIS + 5
    assert [h.id for h in encoded.votes.support] == [net.block_id(GENESIS + 5)]
    other = net.nodes[1].decode_votes(GENESIS + 6, encoded.votes)
    assert other.hash == encoded.opinion_hash
    # the node's opinion of the previous layer is what a ballot without exceptions carries
    assert encoded.opinion_hash == net.nodes[0].get_opinion_hash(GENESIS + 5)


def test_first_ballot_uses_genesis_pseudo_base() -> None:
    node = Tortoise(_config())
    node.set_epoch_weight(1, 10)
    encoded = node.encode_votes(GENESIS + 1)
    assert encoded.votes == Votes(EMPTY_BALLOT_ID, (), (), ())
    assert encoded.opinion_hash == GENESIS_OPINION


def test_invalid_votes_are_rejected() -> None:
    net = MiniNet([5, 5, 5])
    ballots = []
    for layer in range(GENESIS + 1, GENESIS + 4):
        ballots = net.run_layer(layer)
    node = net.nodes[0]
    good = net.make_ballot(node, 0, GENESIS + 4)
    block = BlockHeader(net.block_id(GENESIS + 3), GENESIS + 3, 0)
    with pytest.raises(UnknownBaseBallotError):
        node.on_ballot(_with(good, votes=Votes(b"\x77" * 20, (), (), ())))
    with pytest.raises(InvalidVotesError):
        node.on_ballot(_with(good, votes=Votes(ballots[0].id, (block,), (block,), ())))
    with pytest.raises(InvalidVotesError):
        node.on_ballot(_with(good, votes=Votes(ballots[0].id, (block,), (), (GENESIS + 3,))))
    with pytest.raises(InvalidVotesError):
        node.on_ballot(_with(good, votes=Votes(ballots[0].id, (BlockHeader(block.id, GENESIS + 4, 0),), (), ())))
    with pytest.raises(OpinionMismatchError):
        node.on_ballot(_with(good, opinion_hash=b"\x00" * 32))
    with pytest.raises(InvalidVotesError):
        node.on_ballot(_with(good, layer=GENESIS))
    assert node.get_ballot(good.id) is None  # nothing was recorded
    assert node.on_ballot(good).id == good.id


def _with(ballot: TortoiseBallot, **changes: object) -> TortoiseBallot:
    import attrs

    return attrs.evolve(ballot, **changes)


def test_exceptions_encode_disagreement_with_base() -> None:
    net = MiniNet([5, 5, 5], nodes=2)
    for layer in range(GENESIS + 1, GENESIS + 4):
        net.run_layer(layer)
    # node 1's hare saw another block in the next layer: its votes differ from the common base
    layer = GENESIS + 4
    other = net.block_id(layer, 1)
    net.run_layer(layer, hare={1: other})
    encoded = net.nodes[1].encode_votes(layer + 1)
    decoded = net.nodes[0].decode_votes(layer + 1, encoded.votes)
    assert decoded.hash == encoded.opinion_hash
    assert decoded.opinion == ((other, 0),)


def test_malicious_ballots_weigh_zero() -> None:
    net = MiniNet([10, 10, 10, 70])
    for layer in range(GENESIS + 1, GENESIS + 5):
        net.run_layer(layer)
    node = net.nodes[0]
    layer_info = node.get_layer(GENESIS + 4)
    assert layer_info is not None
    before = layer_info.received_weight
    node.on_malfeasance(bytes([3]) * 32)
    assert node.is_malicious(bytes([3]) * 32)
    assert layer_info.received_weight == before - 70 * WEIGHT_ONE // LPE
    # with 70 % of the weight gone verification stops moving past the malicious-only evidence
    for layer in range(GENESIS + 5, GENESIS + 8):
        net.run_layer(layer)
    assert node.verified < net.nodes[1].verified


def test_full_mode_heals_a_node_that_disagreed() -> None:
    """Node 2 had a different hare output for a few layers; once those layers leave hdist the
    verifying tortoise cannot decide them, the node switches to full mode and adopts the majority."""
    net = MiniNet([30, 30, 30, 10], nodes=3, config=_config(hdist=2))
    for layer in range(GENESIS + 1, GENESIS + 4):
        net.run_layer(layer)
    odd = {2: None}
    for layer in range(GENESIS + 4, GENESIS + 7):
        net.run_layer(layer, hare=odd, publishers={3: 2})
    healer = net.nodes[2]
    switched = False
    for layer in range(GENESIS + 7, GENESIS + 16):
        net.run_layer(layer, publishers={3: 2})
        switched = switched or healer.full_mode
    assert switched
    last = GENESIS + 15
    for layer in range(GENESIS + 4, GENESIS + 7):
        assert healer.get_valid_blocks(layer) == [net.block_id(layer)]
    assert healer.get_opinion_hash(last - 1) == net.nodes[0].get_opinion_hash(last - 1)
    assert healer.verified == last - 1
    assert not healer.full_mode  # switched back once verifying agreed again


def test_bad_beacon_ballots_are_not_good() -> None:
    net = MiniNet([10, 10, 10])
    for layer in range(GENESIS + 1, GENESIS + 4):
        net.run_layer(layer)
    node = net.nodes[0]
    bad = net.make_ballot(node, 0, GENESIS + 4, beacon=b"\xff\xff\xff\xff")
    info = node.on_ballot(bad)
    assert info.bad_beacon
    layer_info = node.get_layer(GENESIS + 4)
    assert layer_info is not None and layer_info.good_by_hash.get(bad.opinion_hash, 0) == 0


def test_layers_without_hare_output_become_empty_after_zdist() -> None:
    node = Tortoise(_config())
    node.set_epoch_weight(1, 10)
    node.tally_votes(GENESIS + 5)
    info = node.get_layer(GENESIS + 3)
    assert info is not None and info.hare_terminated
    last = node.get_layer(GENESIS + 5)
    assert last is not None and not last.hare_terminated


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), units=st.lists(st.integers(1, 100), min_size=3, max_size=6))
def test_agreement_under_random_delivery_order(seed: int, units: list[int]) -> None:
    """Ballots of a layer reach each node in a random order (delays within the synchrony bound):
    every node still verifies the same layers with the same opinion."""
    rng = random.Random(seed)
    net = MiniNet(units, nodes=3)
    for layer in range(GENESIS + 1, GENESIS + 9):
        net.run_layer(layer, rng=rng)
    last = GENESIS + 8
    assert len({node.get_opinion_hash(last - 1) for node in net.nodes}) == 1
    assert len({node.verified for node in net.nodes}) == 1
    for node in net.nodes:
        assert node.get_valid_blocks(last - 2) == [net.block_id(last - 2)]
        block = node.get_layer(last - 2).get_block(net.block_id(last - 2))  # type: ignore[union-attr]
        assert block is not None and block.validity == SUPPORT

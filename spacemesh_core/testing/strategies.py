"""Hypothesis strategies for the SCALE codec and every wire type.

:func:`strategy_for` derives a strategy from any SCALE declaration (a :class:`ScaleType` or a SCALE
attrs class), so a new wire type gets one for free; list lengths are capped (``max_list``) to keep
tests fast while the declared limits stay in force. Named strategies for the wire types follow,
for reuse by consensus and network tests.
"""

from __future__ import annotations

from typing import Any

import attrs
from hypothesis import strategies as st

from spacemesh_core.codec.scale import (
    Array,
    Bool,
    Bytes,
    ByteSlice,
    Compact,
    Enum,
    FixedUInt,
    List,
    Option,
    ScaleType,
    String,
    Struct,
    Union,
    as_scale_type,
)
from spacemesh_core.types import atx, ballot, beacon, block, hare, malfeasance, poet, tx, vrf_messages
from spacemesh_core.types.primitives import ADDRESS_SIZE

#: Default cap on generated list lengths (the codec's declared limits are much larger).
DEFAULT_MAX_LIST = 4


def _string_within(max_bytes: int) -> st.SearchStrategy[str]:
    return st.text(max_size=max_bytes).filter(lambda text: len(text.encode("utf-8")) <= max_bytes)


def strategy_for(
    spec: ScaleType | type,
    *,
    max_list: int = DEFAULT_MAX_LIST,
    overrides: dict[type, dict[str, st.SearchStrategy[Any]]] | None = None,
) -> st.SearchStrategy[Any]:
    """Return a strategy of values that fit the SCALE declaration ``spec``.

    :param spec: a :class:`ScaleType` or a SCALE attrs class.
    :param max_list: cap on generated list and byte-string lengths (never above the declared limit).
    :param overrides: per class, strategies replacing the derived ones for named fields (for
        fields constrained by validators).
    """
    overrides = overrides or {}
    scale_type = as_scale_type(spec)

    def derive(t: ScaleType) -> st.SearchStrategy[Any]:
        if isinstance(t, Compact):
            return st.integers(min_value=0, max_value=(1 << t.bits) - 1)
        if isinstance(t, FixedUInt):
            return st.integers(min_value=0, max_value=(1 << (8 * t.size)) - 1)
        if isinstance(t, Bool):
            return st.booleans()
        if isinstance(t, Bytes):
            return st.binary(min_size=t.size, max_size=t.size)
        if isinstance(t, ByteSlice):
            return st.binary(max_size=min(t.max_len, max(max_list * 8, 32)))
        if isinstance(t, String):
            return _string_within(t.max_len)
        if isinstance(t, List):
            return st.lists(derive(t.elem), max_size=min(t.max_len, max_list)).map(tuple)
        if isinstance(t, Array):
            return st.lists(derive(t.elem), min_size=t.length, max_size=t.length).map(tuple)
        if isinstance(t, Option):
            return st.none() | derive(t.elem)
        if isinstance(t, Enum):
            return st.sampled_from(list(t.enum_cls))
        if isinstance(t, Union):
            return st.one_of([derive(Struct.of(cls)) for cls in t.variants.values()])
        if isinstance(t, Struct):
            cls_overrides = overrides.get(t.cls, {})
            kwargs = {}
            for attribute, (name, field_type) in zip(attrs.fields(t.cls), t.fields, strict=True):
                key = attribute.alias or name
                kwargs[key] = cls_overrides[name] if name in cls_overrides else derive(field_type)
            return st.builds(t.cls, **kwargs)
        raise TypeError(f"no strategy for SCALE type {t!r}")

    return derive(scale_type)


# ---------------------------------------------------------------------------------------------
# Named strategies per wire type
# ---------------------------------------------------------------------------------------------


def post_proofs() -> st.SearchStrategy[atx.PostV1]:
    """PoST proofs (``PostV1``)."""
    return strategy_for(atx.PostV1)


def nipost_challenges() -> st.SearchStrategy[atx.NIPostChallengeV1]:
    """NIPoST challenges (``NIPostChallengeV1``)."""
    return strategy_for(atx.NIPostChallengeV1)


def atxs_v1() -> st.SearchStrategy[atx.ActivationTxV1]:
    """Signed ATX v1 (random bytes in place of real proofs and signatures)."""
    return strategy_for(atx.ActivationTxV1)


def poet_proof_messages() -> st.SearchStrategy[poet.PoetProofMessage]:
    """PoET proof messages."""
    return strategy_for(poet.PoetProofMessage)


def poet_certificates() -> st.SearchStrategy[poet.PoetCertificate]:
    """PoET registration certificates (``CertOnWire``)."""
    return strategy_for(poet.PoetCertificate)


def ballots() -> st.SearchStrategy[ballot.Ballot]:
    """Ballots with votes and eligibility proofs."""
    return strategy_for(ballot.Ballot)


def proposals() -> st.SearchStrategy[ballot.Proposal]:
    """Proposals (a ballot plus transaction ids)."""
    return strategy_for(ballot.Proposal)


def blocks() -> st.SearchStrategy[block.Block]:
    """Blocks with rewards and transaction ids."""
    return strategy_for(block.Block)


def certify_messages() -> st.SearchStrategy[block.CertifyMessage]:
    """Certify messages."""
    return strategy_for(block.CertifyMessage)


def certificates() -> st.SearchStrategy[block.Certificate]:
    """Block certificates."""
    return strategy_for(block.Certificate)


def hare_messages() -> st.SearchStrategy[hare.HareMessage]:
    """Hare3 messages (any iteration/round bytes, as the wire allows)."""
    return strategy_for(hare.HareMessage)


def beacon_proposals() -> st.SearchStrategy[beacon.BeaconProposalMessage]:
    """Beacon proposal messages."""
    return strategy_for(beacon.BeaconProposalMessage)


def beacon_first_votes() -> st.SearchStrategy[beacon.FirstVotingMessage]:
    """First-round beacon votes."""
    return strategy_for(beacon.FirstVotingMessage)


def beacon_following_votes() -> st.SearchStrategy[beacon.FollowingVotingMessage]:
    """Following-round beacon votes."""
    return strategy_for(beacon.FollowingVotingMessage)


def weak_coin_messages() -> st.SearchStrategy[beacon.WeakCoinMessage]:
    """Beacon weak-coin messages."""
    return strategy_for(beacon.WeakCoinMessage)


def malfeasance_proofs() -> st.SearchStrategy[malfeasance.MalfeasanceProof]:
    """v1 malfeasance proofs of all five kinds."""
    return strategy_for(malfeasance.MalfeasanceProof, max_list=2)


def malfeasance_gossips() -> st.SearchStrategy[malfeasance.MalfeasanceGossip]:
    """Malfeasance gossip messages."""
    return strategy_for(malfeasance.MalfeasanceGossip, max_list=2)


_VRF_TYPE_OVERRIDES: dict[type, dict[str, st.SearchStrategy[Any]]] = {
    vrf_messages.BallotVrfMessage: {"type": st.just(vrf_messages.EligibilityType.VOTING)},
    vrf_messages.HareVrfMessage: {"type": st.just(vrf_messages.EligibilityType.HARE)},
    vrf_messages.BeaconProposalVrfMessage: {"type": st.just(vrf_messages.EligibilityType.BEACON)},
    vrf_messages.WeakCoinVrfMessage: {"type": st.just(vrf_messages.EligibilityType.BEACON_WC)},
}


def vrf_messages_of(cls: type) -> st.SearchStrategy[Any]:
    """VRF messages of class ``cls`` (their fixed eligibility type respected)."""
    return strategy_for(cls, overrides=_VRF_TYPE_OVERRIDES)


def tx_envelopes(max_body: int = 200) -> st.SearchStrategy[tx.TxEnvelope]:
    """Transaction envelopes: spawn (with a template) or other methods, with an opaque body."""
    address = st.binary(min_size=ADDRESS_SIZE, max_size=ADDRESS_SIZE)
    payloads = strategy_for(tx.TxPayload)
    body = st.binary(max_size=max_body)
    spawn = st.builds(tx.TxEnvelope, address, st.just(tx.METHOD_SPAWN), payloads, body, address)
    other = st.builds(tx.TxEnvelope, address, st.integers(1, 255), payloads, body, st.none())
    return spawn | other


#: Every SCALE wire type with its strategy, for tests that sweep them all.
WIRE_TYPE_STRATEGIES: dict[type, st.SearchStrategy[Any]] = {
    atx.PostV1: post_proofs(),
    atx.MerkleProofV1: strategy_for(atx.MerkleProofV1),
    atx.PostMetadataV1: strategy_for(atx.PostMetadataV1),
    atx.NIPostV1: strategy_for(atx.NIPostV1),
    atx.NIPostChallengeV1: nipost_challenges(),
    atx.InnerActivationTxV1: strategy_for(atx.InnerActivationTxV1),
    atx.AtxMetadata: strategy_for(atx.AtxMetadata),
    atx.ActivationTxV1: atxs_v1(),
    poet.MerkleProof: strategy_for(poet.MerkleProof),
    poet.PoetProof: strategy_for(poet.PoetProof),
    poet.PoetProofMessage: poet_proof_messages(),
    poet.UnixTimestamp: strategy_for(poet.UnixTimestamp),
    poet.PoetCertificate: poet_certificates(),
    ballot.BlockHeader: strategy_for(ballot.BlockHeader),
    ballot.Votes: strategy_for(ballot.Votes),
    ballot.Opinion: strategy_for(ballot.Opinion),
    ballot.EpochData: strategy_for(ballot.EpochData),
    ballot.VotingEligibility: strategy_for(ballot.VotingEligibility),
    ballot.BallotMetadata: strategy_for(ballot.BallotMetadata),
    ballot.InnerBallot: strategy_for(ballot.InnerBallot),
    ballot.Ballot: ballots(),
    ballot.InnerProposal: strategy_for(ballot.InnerProposal),
    ballot.Proposal: proposals(),
    block.RatNum: strategy_for(block.RatNum),
    block.AnyReward: strategy_for(block.AnyReward),
    block.Block: blocks(),
    block.CertifyContent: strategy_for(block.CertifyContent),
    block.CertifyMessage: certify_messages(),
    block.Certificate: certificates(),
    hare.IterRound: strategy_for(hare.IterRound),
    hare.HareValue: strategy_for(hare.HareValue),
    hare.HareEligibility: strategy_for(hare.HareEligibility),
    hare.HareBody: strategy_for(hare.HareBody),
    hare.HareMetadata: strategy_for(hare.HareMetadata),
    hare.HareMessage: hare_messages(),
    hare.HareEligibilityGossip: strategy_for(hare.HareEligibilityGossip),
    beacon.BeaconProposalMessage: beacon_proposals(),
    beacon.FirstVotingMessageBody: strategy_for(beacon.FirstVotingMessageBody),
    beacon.FirstVotingMessage: beacon_first_votes(),
    beacon.FollowingVotingMessageBody: strategy_for(beacon.FollowingVotingMessageBody),
    beacon.FollowingVotingMessage: beacon_following_votes(),
    beacon.WeakCoinMessage: weak_coin_messages(),
    tx.TxPayload: strategy_for(tx.TxPayload),
    tx.WalletSpawnArguments: strategy_for(tx.WalletSpawnArguments),
    tx.WalletSpendArguments: strategy_for(tx.WalletSpendArguments),
    malfeasance.AtxProofMsg: strategy_for(malfeasance.AtxProofMsg),
    malfeasance.BallotProofMsg: strategy_for(malfeasance.BallotProofMsg),
    malfeasance.HareProofMsg: strategy_for(malfeasance.HareProofMsg),
    malfeasance.AtxProof: strategy_for(malfeasance.AtxProof),
    malfeasance.BallotProof: strategy_for(malfeasance.BallotProof),
    malfeasance.HareProof: strategy_for(malfeasance.HareProof),
    malfeasance.InvalidPostIndexProof: strategy_for(malfeasance.InvalidPostIndexProof, max_list=2),
    malfeasance.InvalidPrevATXProof: strategy_for(malfeasance.InvalidPrevATXProof, max_list=2),
    malfeasance.MalfeasanceProof: malfeasance_proofs(),
    malfeasance.MalfeasanceGossip: malfeasance_gossips(),
    vrf_messages.BallotVrfMessage: vrf_messages_of(vrf_messages.BallotVrfMessage),
    vrf_messages.HareVrfMessage: vrf_messages_of(vrf_messages.HareVrfMessage),
    vrf_messages.BeaconProposalVrfMessage: vrf_messages_of(vrf_messages.BeaconProposalVrfMessage),
    vrf_messages.WeakCoinVrfMessage: vrf_messages_of(vrf_messages.WeakCoinVrfMessage),
}

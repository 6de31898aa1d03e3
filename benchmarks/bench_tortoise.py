"""Tortoise and hare time per layer at mainnet shape: ~2000 ballots per layer, hare committee 50.

Run: ``python benchmarks/bench_tortoise.py [--layers N] [--ballots N] [--hare-nodes N]``.

* tortoise: one node's :class:`Tortoise` receives ``ballots`` ballots per layer (each decoded against
  its base, its opinion hash checked) and tallies; reported per layer, with the ratio to a baseline
  measured in the same run: hashing the same number of one-layer opinions (the least work a ballot
  needs).
* hare: ``hare-nodes`` identities of equal weight run hare3 with committee 50 on a 2000-proposal layer;
  the time spent in ONE node's engine (signature and VRF checks included, fresh oracle) is reported per
  layer, with the ratio to the baseline of verifying that many VRF proofs alone.
"""

from __future__ import annotations

import argparse
import time

from spacemesh_core.consensus.hare3 import Hare3Engine, HareConfig, HareOracle, compute_hare_vrf_message
from spacemesh_core.consensus.tortoise import (
    WEIGHT_ONE,
    Tortoise,
    TortoiseBallot,
    TortoiseConfig,
    compute_opinion_hash,
)
from spacemesh_core.crypto.hashes import compute_blake3
from spacemesh_core.crypto.signing import Signer
from spacemesh_core.crypto.vrf import is_valid_vrf_proof

GENESIS_ID = bytes(20)


def bench_tortoise(layers: int, ballots: int) -> tuple[float, float]:
    config = TortoiseConfig(effective_genesis=4031, layers_per_epoch=4032)
    tortoise = Tortoise(config)
    tortoise.set_epoch_weight(1, ballots * 4032)
    tortoise.on_beacon(1, b"\x01\x02\x03\x04")
    counter = 0
    spent = 0.0
    baseline = 0.0
    for layer in range(4032, 4032 + layers):
        prev = layer - 1
        if prev > 4031:
            block = compute_blake3(prev.to_bytes(4, "little"))[:20]
            tortoise.on_block(prev, block, 0)
            tortoise.on_hare_output(prev, block)
        encoded = tortoise.encode_votes(layer)
        batch = []
        for _ in range(ballots):
            counter += 1
            ballot_id = compute_blake3(counter.to_bytes(8, "little"))[:20]
            smesher = counter.to_bytes(32, "little")
            beacon = b"\x01\x02\x03\x04"
            votes, opinion = encoded.votes, encoded.opinion_hash
            batch.append(TortoiseBallot(ballot_id, layer, smesher, bytes(32), WEIGHT_ONE, beacon, votes, opinion))
        start = time.perf_counter()
        for ballot in batch:
            tortoise.on_ballot(ballot)
        tortoise.tally_votes(layer)
        spent += time.perf_counter() - start
        start = time.perf_counter()
        for ballot in batch:
            compute_opinion_hash(ballot.opinion_hash, ((ballot.id, 0),))
        baseline += time.perf_counter() - start
    assert tortoise.verified >= 4032 + layers - 3, tortoise.verified
    return spent / layers, baseline / layers


def bench_hare(nodes: int, proposals: int) -> tuple[float, float, int]:
    config = HareConfig(committee=50)
    signers = [Signer.from_seed(compute_blake3(b"hare", i.to_bytes(4, "little"))) for i in range(nodes)]
    weights = {s.node_id: 1 for s in signers}
    beacon = b"\x01\x02\x03\x04"
    shared = HareOracle(weights, beacon, config)
    measured_oracle = HareOracle(weights, beacon, config)
    layer = 5000
    ids = sorted(compute_blake3(b"p", i.to_bytes(4, "little"))[:20] for i in range(proposals))
    engines = [
        Hare3Engine(config, layer, measured_oracle if i == 0 else shared, GENESIS_ID, [s],
                    verify_signatures=(i == 0))
        for i, s in enumerate(signers)
    ]
    for engine in engines:
        engine.set_initial(ids)
    spent = 0.0
    received = 0
    proofs_seen: list[tuple[bytes, bytes, bytes]] = []
    while not engines[0].finished:
        outbox = []
        for index, engine in enumerate(engines):
            if engine.finished:
                continue
            start = time.perf_counter()
            out = engine.advance()
            if index == 0:
                spent += time.perf_counter() - start
            outbox.extend(out.messages)
        for message in outbox:
            for index, engine in enumerate(engines):
                if engine.finished or message.sender == signers[index].node_id:
                    continue
                start = time.perf_counter()
                engine.on_message(message)
                if index == 0:
                    spent += time.perf_counter() - start
                    received += 1
                    absolute = message.body.iter_round.iter * 7 + message.body.iter_round.round
                    proofs_seen.append((message.sender, compute_hare_vrf_message(beacon, layer, absolute),
                                        message.body.eligibility.proof))
    assert engines[0].result is not None and list(engines[0].result) == ids
    start = time.perf_counter()
    for node_id, alpha, proof in proofs_seen:
        is_valid_vrf_proof(node_id, alpha, proof)
    baseline = time.perf_counter() - start
    return spent, baseline, received


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--ballots", type=int, default=2000)
    parser.add_argument("--hare-nodes", type=int, default=80)
    args = parser.parse_args()
    per_layer, baseline = bench_tortoise(args.layers, args.ballots)
    print(f"tortoise: {args.ballots} ballots/layer, {args.layers} layers: {per_layer * 1000:.1f} ms/layer "
          f"(baseline {baseline * 1000:.1f} ms, ratio {per_layer / baseline:.1f}x)")
    spent, hare_baseline, received = bench_hare(args.hare_nodes, args.ballots)
    print(f"hare3: committee 50, {args.hare_nodes} identities, {args.ballots} proposals: one node "
          f"{spent * 1000:.1f} ms/layer for {received} messages (baseline VRF checks {hare_baseline * 1000:.1f} ms, "
          f"ratio {spent / hare_baseline:.1f}x)")
    print(f"total per layer: {(per_layer + spent) * 1000:.1f} ms (target < 1000 ms on one core)")


if __name__ == "__main__":
    main()

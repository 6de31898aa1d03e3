"""The layer clock on real and virtual time."""

from __future__ import annotations

import asyncio

import pytest

from spacemesh_core.clock import LayerClock, VirtualTime, parse_genesis_time


def test_mainnet_layer_arithmetic() -> None:
    genesis = parse_genesis_time("2023-07-14T08:00:00Z")
    assert genesis == 1689321600
    clock = LayerClock(genesis, 300, 4032, VirtualTime(genesis + 8063 * 300 + 299.9))
    assert clock.get_current_layer() == 8063
    assert clock.get_current_epoch() == 1
    assert clock.get_epoch(8064) == 2 and clock.get_first_layer(2) == 8064
    assert clock.get_layer_start(1) == genesis + 300
    assert clock.get_layer_at(genesis - 1) == -1


def test_genesis_time_needs_a_zone() -> None:
    with pytest.raises(ValueError, match="time zone"):
        parse_genesis_time("2023-07-14T08:00:00")


async def test_waiting_for_layers_on_virtual_time() -> None:
    time_source = VirtualTime(1000.0)
    clock = LayerClock(1000.0, 5.0, 4, time_source)
    reached: list[int] = []

    async def waiter(layer: int) -> None:
        reached.append(await clock.wait_for_layer(layer))

    tasks = [asyncio.create_task(waiter(n)) for n in (3, 1, 2)]
    await asyncio.sleep(0)
    assert time_source.get_pending_count() == 3
    await time_source.advance(5.0)
    assert reached == [1]
    await time_source.advance(10.0)
    await asyncio.gather(*tasks)
    assert reached == [1, 2, 3]
    assert clock.get_current_epoch() == 0
    with pytest.raises(ValueError):
        await time_source.advance_to(0.0)


def test_invalid_clock_parameters() -> None:
    with pytest.raises(ValueError):
        LayerClock(0, 0, 10)

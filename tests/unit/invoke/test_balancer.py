"""The latency-aware balancer, deterministic: a seeded RNG and a fake clock drive it, each call
is picked, "answered" after the replica's response time and observed."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from components.nameresolution import Address
from runtime.internal.balancer import Balancer

FAST, SLOW, THIRD = Address("10.0.0.1", 1), Address("10.0.0.2", 1), Address("10.0.0.3", 1)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _balancer(clock: Clock, seed: int = 7, **kwargs: float) -> Balancer:
    return Balancer(rng=random.Random(seed), clock=clock, **kwargs)  # type: ignore[arg-type]


def _drive(
    balancer: Balancer, clock: Clock, latency: dict[Address, float], calls: int
) -> Counter[Address]:
    """Sequential calls, 10 ms apart, each taking its replica's latency."""
    picked: Counter[Address] = Counter()
    for _ in range(calls):
        address = balancer.pick("app", list(latency))
        picked[address] += 1
        clock.now += latency[address]
        balancer.observe(address, latency[address], ok=True)
        clock.now += 0.01
    return picked


def test_a_slow_replica_gets_less_traffic() -> None:
    clock = Clock()
    balancer = _balancer(clock)
    picked = _drive(balancer, clock, {FAST: 0.001, SLOW: 0.05}, 1000)
    assert picked[FAST] > 0.9 * 1000
    assert picked[SLOW] > 0  # still probed now and then, as its peak decays
    assert balancer.cost(SLOW) > balancer.cost(FAST)


def test_equal_replicas_share_the_traffic() -> None:
    clock = Clock()
    picked = _drive(_balancer(clock), clock, {FAST: 0.002, SLOW: 0.002, THIRD: 0.002}, 900)
    assert min(picked.values()) > 150


def test_calls_in_flight_are_penalised() -> None:
    clock = Clock()
    balancer = _balancer(clock)
    _drive(balancer, clock, {FAST: 0.001, SLOW: 0.001}, 20)
    # FAST hangs: calls to it stay in flight (never observed), SLOW's answer at once
    picks: Counter[Address] = Counter()
    for _ in range(50):
        address = balancer.pick("app", [FAST, SLOW])
        picks[address] += 1
        if address == SLOW:
            balancer.observe(SLOW, 0.001, ok=True)
    assert picks[FAST] <= 5


def test_a_new_replica_is_tried_but_not_flooded() -> None:
    clock = Clock()
    balancer = _balancer(clock)
    _drive(balancer, clock, {FAST: 0.001, SLOW: 0.001}, 20)
    picks = Counter(balancer.pick("app", [FAST, SLOW, THIRD]) for _ in range(30))
    assert 1 <= picks[THIRD] < 30


def test_a_failed_replica_is_ejected_then_readmitted() -> None:
    clock = Clock()
    balancer = _balancer(clock, ejection=1.0, max_ejection=8.0)
    replicas = [FAST, SLOW]
    balancer.observe(balancer.pick("app", [SLOW]), 0.001, ok=False)
    assert balancer.ejected(SLOW)
    assert {balancer.pick("app", replicas) for _ in range(50)} == {FAST}
    clock.now += 1.01
    assert not balancer.ejected(SLOW)
    assert SLOW in {balancer.pick("app", replicas) for _ in range(50)}


def test_ejection_backs_off_and_a_success_resets_it() -> None:
    clock = Clock()
    balancer = _balancer(clock, ejection=1.0, max_ejection=3.0)
    for wait in (1.0, 2.0, 3.0, 3.0):  # doubles, capped
        balancer.observe(balancer.pick("app", [SLOW]), 0.0, ok=False)
        clock.now += wait - 0.01
        assert balancer.ejected(SLOW)
        clock.now += 0.02
        assert not balancer.ejected(SLOW)
    balancer.observe(balancer.pick("app", [SLOW]), 0.001, ok=True)
    balancer.observe(balancer.pick("app", [SLOW]), 0.0, ok=False)
    clock.now += 1.01
    assert not balancer.ejected(SLOW)


def test_when_all_are_ejected_all_are_candidates() -> None:
    clock = Clock()
    balancer = _balancer(clock)
    for address in (FAST, SLOW):
        balancer.observe(balancer.pick("app", [address]), 0.0, ok=False)
    assert {balancer.pick("app", [FAST, SLOW]) for _ in range(50)} == {FAST, SLOW}


def test_state_is_bounded() -> None:
    clock = Clock()
    balancer = _balancer(clock, max_tracked=64)
    for port in range(1, 1000):
        address = Address("10.0.0.9", port)
        balancer.observe(balancer.pick("app", [address]), 0.001, ok=True)
    assert len(balancer._replicas) <= 64


def test_empty_and_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="no address"):
        Balancer().pick("app", [])
    with pytest.raises(ValueError, match="positive"):
        Balancer(ejection=0)

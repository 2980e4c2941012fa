"""Fixtures for the actor tests: a shared journal children write their life
into, gates that hold a child until the test lets it go, and a clean actor
registry after every test."""
from __future__ import annotations

import gevent.event
import pykka
import pytest


@pytest.fixture
def journal() -> list[str]:
    return []


@pytest.fixture
def gates(stop_leftover_actors):
    """Make gates that are all opened when the test ends (before the leftover
    actors are stopped), so no child stays stuck."""
    made: list[gevent.event.Event] = []

    def make() -> gevent.event.Event:
        gate = gevent.event.Event()
        made.append(gate)
        return gate

    yield make
    for gate in made:
        gate.set()


@pytest.fixture(autouse=True)
def stop_leftover_actors():
    yield
    pykka.ActorRegistry.stop_all(block=True, timeout=5)

"""Fixtures for the sandbox on loopback (a pytest plugin module: add "tests.servers.sandbox" to pytest_plugins)."""
import pytest

from itrader.sandbox.faults import Faults
from itrader.sandbox.ledger import Ledger
from itrader.sandbox.llm import LLMSandbox
from itrader.sandbox.server import HTTPServer, root_app


@pytest.fixture
def sandbox_llm():
    """The sandbox LLM alone on a free loopback port; `.url` is its OpenAI base URL (…/llm/v1)."""
    llm = LLMSandbox(Ledger(), Faults(seed=1))
    server = HTTPServer(root_app({"/llm/v1": llm.make_app()}), "127.0.0.1:0").start()
    llm.url = f"{server.url}/llm/v1"
    yield llm
    server.stop()


@pytest.fixture(scope="session")
def sandbox_world(tmp_path_factory):
    """One World for the session on a free loopback port, buyers at full speed (no human delays), no IMAP."""
    from itrader.sandbox.world import World

    world = World(seed=7, speed=0, poll_interval=0.02, maildir=tmp_path_factory.mktemp("sandbox-mail"))
    world.start(listen="127.0.0.1:0", imap=None)
    yield world
    world.stop()


@pytest.fixture
def sandbox(sandbox_world):
    """The session World, reset to a fresh state (default accounts only) for this test."""
    sandbox_world.reset()
    yield sandbox_world
    sandbox_world.reset()

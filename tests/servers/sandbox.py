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

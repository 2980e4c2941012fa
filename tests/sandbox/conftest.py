# Until tests/conftest.py lists "tests.servers.sandbox" in pytest_plugins.
from tests.servers.sandbox import *  # noqa: F401,F403

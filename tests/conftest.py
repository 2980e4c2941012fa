"""Test session set-up.

gevent is patched before anything else is imported, exactly as `itrader run`
does, so the code under test runs on the same cooperative runtime as in
production. Real servers (PostgreSQL, Redis, Dovecot, the sandbox) are started
on loopback by the fixtures in tests/servers/.
"""
from gevent import monkey

monkey.patch_all()

from actors.tree import trust_sandbox_dkim  # noqa: E402

# Tests verify the sandbox bank's mail as the sandbox profile does; production code
# never imports the sandbox, the composition place registers its DKIM key.
trust_sandbox_dkim()

pytest_plugins = [
    "tests.servers.postgres",
    "tests.servers.redis",
    "tests.servers.dovecot",
    "tests.servers.sandbox",
]

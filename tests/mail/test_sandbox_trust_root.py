"""DESIGN §5.7: the sandbox bank's DKIM key is trusted only where the sandbox profile is composed.

The mail code never imports the twin; in a fresh process that did not compose the sandbox
(`actors.tree.trust_sandbox_dkim`), the key source "sandbox" does not exist."""
import subprocess
import sys

PROBE = """
from itrader.mail import dnsfunc_for
import sys
assert dnsfunc_for("dns") is None
try:
    dnsfunc_for("sandbox")
except ValueError as exc:
    print("refused:", exc)
else:
    print("accepted")
print("sandbox imported" if any(m.startswith("itrader.sandbox") for m in sys.modules) else "sandbox not imported")
"""


def test_a_process_that_did_not_compose_the_sandbox_refuses_its_key():
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "refused:" in result.stdout and "sandbox not imported" in result.stdout


def test_composing_the_sandbox_profile_trusts_its_key():
    probe = "from actors.tree import trust_sandbox_dkim\ntrust_sandbox_dkim()\n" + PROBE
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "accepted" in result.stdout

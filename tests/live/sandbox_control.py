"""What the scenario tests of issue 12 share: the sandbox's control API over HTTP, a daemon's events."""
import requests


def control(world, method: str, path: str, **body) -> dict:
    """One control call (POST /sandbox/...); anything but 200 fails the test with the sandbox's answer."""
    answer = requests.request(method, world.urls["sandbox"] + path, json=body or None, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def events(daemon, kind: str) -> list[dict]:
    """The operator events of this kind an in-process daemon has published so far."""
    return [e for e in daemon.system.events.since(0) if e["type"] == kind]

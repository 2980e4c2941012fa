"""Loopback ends where an HTTP request fails at a known moment, for telling "never sent" from "sent,
answer lost": a port nobody listens on (refused), a listener whose accept queue is full (the connect
times out), and a server that reads the whole request and hangs up without answering."""
from __future__ import annotations

import socket
from contextlib import contextmanager
from typing import Iterator

import gevent


@contextmanager
def refusing_url() -> Iterator[str]:
    """A base URL whose port refuses connections (bound, never listening)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@contextmanager
def unanswered_connects_url() -> Iterator[str]:
    """A base URL whose listener never accepts and whose queue is already full: the kernel drops
    further handshakes, so a client's connect times out before it could send anything."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    address = listener.getsockname()
    fillers = []
    for _ in range(4):  # enough to fill a backlog of 0 (Linux queues backlog + 1)
        filler = socket.socket()
        filler.setblocking(False)
        try:
            filler.connect(address)
        except BlockingIOError:
            pass
        fillers.append(filler)
    gevent.sleep(0.1)
    try:
        yield f"http://{address[0]}:{address[1]}"
    finally:
        for sock in fillers + [listener]:
            sock.close()


@contextmanager
def hanging_up_url() -> Iterator[str]:
    """A base URL whose server reads a request to its end, then closes the connection unanswered
    (as a proxy that lost its upstream after forwarding). `requests` sees a dropped connection."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def serve() -> None:
        while True:
            conn, _ = listener.accept()
            conn.settimeout(2)
            try:
                _read_request(conn)
            finally:
                conn.close()

    server = gevent.spawn(serve)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.kill()
        listener.close()


def _read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return
        body += chunk

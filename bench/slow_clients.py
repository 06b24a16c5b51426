"""Slow clients held against the receiver while a scenario measures it: each sends
a webhook request's headers, then its body one byte at a time, and is opened again
when the receiver cuts it off (issue 19: slow clients must not delay a delivery)."""

from __future__ import annotations

import socket
import threading

HEAD = (
    b"POST /webhooks/hubspot HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
    b"Content-Length: 100000\r\n\r\n["
)


class SlowClients:
    """``count`` connections to ``host:port`` trickling a byte each every ``pace`` s."""

    def __init__(self, host: str, port: int, count: int, pace: float = 0.2) -> None:
        self.address = (host, port)
        self.count = count
        self.pace = pace
        self.reopened = 0  # connections the receiver cut off, opened again
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slow-clients", daemon=True)
        self._sockets: list[socket.socket | None] = [None] * count

    def __enter__(self) -> SlowClients:
        if self.count:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        for s in self._sockets:
            if s is not None:
                s.close()

    def _open(self) -> socket.socket | None:
        try:
            s = socket.create_connection(self.address, timeout=2)
            s.sendall(HEAD)
        except OSError:
            return None
        return s

    def _run(self) -> None:
        while not self._stop.is_set():
            for i, s in enumerate(self._sockets):
                if s is not None:
                    try:
                        s.send(b" ")
                        continue
                    except OSError:  # cut off by the receiver
                        s.close()
                        self.reopened += 1
                self._sockets[i] = self._open()
            self._stop.wait(self.pace)

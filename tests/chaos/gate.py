"""A TCP gate in front of a server: open, it forwards; closed, connections are refused.

The chaos run points ``MLFLOW_TRACKING_URI`` at the gate, so an MLflow outage (refused
connections, and cut ones for requests in flight) costs no server restart.
"""

from __future__ import annotations

import contextlib
import socket
import threading

__all__ = ["Gate"]


class Gate:
    """Forward 127.0.0.1:``port`` to 127.0.0.1:``target`` while open.

    Examples
    --------
    >>> listener = socket.create_server(("127.0.0.1", 0))
    >>> gate = Gate(listener.getsockname()[1])
    >>> gate.open()
    >>> socket.create_connection(("127.0.0.1", gate.port), timeout=2).close()
    >>> gate.close()
    >>> try:
    ...     socket.create_connection(("127.0.0.1", gate.port), timeout=2)
    ... except ConnectionRefusedError:
    ...     print("refused")
    refused
    >>> listener.close()
    """

    def __init__(self, target: int) -> None:
        self.target = target
        probe = socket.create_server(("127.0.0.1", 0))
        self.port = int(probe.getsockname()[1])
        probe.close()
        self._listener: socket.socket | None = None
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        """Whether the gate forwards now."""
        return self._listener is not None

    def open(self) -> None:
        """Start forwarding (the same port every time)."""
        if self._listener is not None:
            return
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def close(self) -> None:
        """Refuse new connections and cut the open ones."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            connections, self._connections = self._connections, set()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self._connections.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for conn in (source, sink):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            with self._lock:
                self._connections.discard(source)
                self._connections.discard(sink)

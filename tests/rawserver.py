"""
A loopback HTTP server that answers the way no well-behaved server would.

Each test gives it a function ``answer(sock, index, body) -> bool`` that
writes raw bytes for the ``index``-th request and says whether to keep the
connection open.  Connections live at most 30 seconds.
"""

import json
import socket
import threading
import time

OK = b'{"statusCode": 200, "message": "User data deleted successfully.", "data": null}'


def response(status_line, body, *headers):
    head = [f"HTTP/1.1 {status_line}", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


class RawServer:
    def __init__(self, answer):
        self.answer = answer
        self.bodies = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def ids(self):
        return [json.loads(body).get("id") for body in self.bodies]

    def close(self):
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        conn.settimeout(30)
        buffer = b""
        ends = time.monotonic() + 30
        try:
            while time.monotonic() < ends:
                while b"\r\n\r\n" not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buffer) < length:
                    buffer += conn.recv(65536)
                body, buffer = buffer[:length], buffer[length:]
                with self._lock:
                    self.bodies.append(body)
                    index = len(self.bodies) - 1
                if not self.answer(conn, index, body):
                    return
        except OSError:
            pass
        finally:
            conn.close()

"""Shared fixtures: a real threaded HTTP server on 127.0.0.1 (never a mock of the network layer).

``file_server`` serves byte strings registered with ``server.add(path, data)`` and supports
``Range: bytes=N-`` (206 + Content-Range, 416 past the end). Per-path *plans* script the next
answers: ``server.plan(path, "truncate:1000", "500", "404")`` makes the next three requests send
only 1,000 bytes of the body then hang up, answer 500, answer 404; afterwards the file is served
normally. A plan can combine steps with ``+``: ``"nolength"`` sends no ``Content-Length`` (the body
ends when the connection closes, as HTTP/1.0 allows), ``"extra:N"`` appends N bytes the file does not
have, ``"truncate:N"`` as above -- ``server.plan(path, "nolength+truncate:1000")`` is a body cut short
that nothing announces. ``server.ignore_range = True`` makes it answer 200 with the whole file to
ranged requests.
``server.requests`` logs ``(path, Range header or None)`` of every request.
"""
from __future__ import annotations

import collections
import http.server
import io
import re
import socket
import tarfile
import threading

import pytest


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "rrlib-test/1.0"

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):  # noqa: N802 (http.server API)
        srv: FileServer = self.server.owner
        rng = self.headers.get("Range")
        with srv.lock:
            srv.requests.append((self.path, rng))
            plan = srv.plans[self.path].popleft() if srv.plans[self.path] else "ok"
        data = srv.files.get(self.path)
        steps = dict(step.partition(":")[::2] for step in plan.split("+"))
        if "404" in steps or data is None:
            self.send_error(404, "Not Found")
            return
        if "500" in steps:
            self.send_error(500, "Internal Server Error")
            return
        start = 0
        if rng and not srv.ignore_range:
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng.strip())
            start = int(m.group(1)) if m else 0
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:] + bytes(int(steps.get("extra") or 0))
        self.send_header("Content-Type", "application/octet-stream")
        if "nolength" not in steps:
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if "truncate" in steps:
            body = body[: int(steps["truncate"])]
        try:
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):  # the client stopped reading: fine
            pass
        if "truncate" in steps or "nolength" in steps:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class FileServer:
    """A threaded HTTP server on 127.0.0.1 serving in-memory files (see module docstring)."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.plans: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self.requests: list[tuple[str, str | None]] = []
        self.ignore_range = False
        self.lock = threading.Lock()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, path: str, data: bytes) -> str:
        """Serve ``data`` at ``path``; returns its URL."""
        self.files[path] = data
        return self.base + path

    def plan(self, path: str, *answers: str) -> None:
        self.plans[path].extend(answers)

    def requests_for(self, path: str) -> list[str | None]:
        return [rng for p, rng in self.requests if p == path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def file_server():
    server = FileServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens (connection refused: what offline looks like)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/data/file.bin"


# --------------------------------------------------------------------------------------------
# Small files in the real formats
# --------------------------------------------------------------------------------------------
def jpeg_bytes(size=(64, 48), color=(200, 30, 30), quadrants=None) -> bytes:
    """A tiny JPEG; ``quadrants`` = 4 colours (TL, TR, BL, BR) paints the four quarters."""
    from PIL import Image

    img = Image.new("RGB", size, color)
    if quadrants is not None:
        w, h = size
        for (x, y), c in zip([(0, 0), (w // 2, 0), (0, h // 2), (w // 2, h // 2)], quadrants):
            img.paste(Image.new("RGB", (w // 2, h // 2), c), (x, y))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def tar_gz_bytes(members: dict[str, bytes]) -> bytes:
    """A .tar.gz holding ``members`` (name -> content) as regular files."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()

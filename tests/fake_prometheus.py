"""A slow Prometheus on 127.0.0.1 for interrupt tests: every ``query_range`` takes ``delay`` seconds and
answers one flat series, and the moment each request arrived is recorded.

    with SlowPrometheus(delay=0.2) as prometheus:
        ... prometheus.url, prometheus.arrivals (time.monotonic() of each request)
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class SlowPrometheus:
    """See the module docstring. Use as a context manager."""

    def __init__(self, delay: float = 0.2) -> None:
        self.delay = delay
        self.arrivals: list[float] = []
        self._server: ThreadingHTTPServer | None = None

    def __enter__(self) -> SlowPrometheus:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.arrivals.append(time.monotonic())
                params = parse_qs(urlsplit(self.path).query)
                start, end = float(params["start"][0]), float(params["end"][0])
                time.sleep(fake.delay)
                values = [[start + (end - start) * i / 10, "1"] for i in range(11)]
                body = {
                    "status": "success",
                    "data": {"resultType": "matrix", "result": [{"metric": {}, "values": values}]},
                }
                data = json.dumps(body).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client is gone (it was interrupted)
                    pass

            def log_message(self, *_: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def __exit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None, "enter the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def section(self, metrics: int, name: str = "prod") -> str:
        """A ``[sources.NAME]`` TOML section asking this server for ``metrics`` metrics."""
        lines = [f"[sources.{name}]", 'type = "prometheus"', f'url = "{self.url}"', "retries = 0"]
        for n in range(1, metrics + 1):
            lines += [
                f"[[sources.{name}.metrics]]",
                f'name = "metric {n}"',
                f'query = "sum(up{{job=\\"{n}\\"}})"',
            ]
        return "\n".join(lines) + "\n"

    def wait_for(self, count: int, timeout: float = 60) -> None:
        """Block until ``count`` requests arrived (fails the test after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while len(self.arrivals) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {len(self.arrivals)} of {count} requests arrived in {timeout} s")
            time.sleep(0.01)

    def after(self, moment: float) -> int:
        """How many requests arrived after ``moment`` (a ``time.monotonic()`` value)."""
        return sum(1 for arrival in self.arrivals if arrival > moment)


# `mine` as a terminal starts it: SIGINT raises KeyboardInterrupt even when the test runner ignores it.
INTERRUPTIBLE_MINE = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from impact_miner.cli import main; main(sys.argv[1:])"
)

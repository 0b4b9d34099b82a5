"""A loopback OpenAI-compatible chat server for tests and benchmarks: ``POST /v1/chat/completions``.

It speaks the real protocol (JSON bodies, ``chat.completion`` objects with ``usage``, OpenAI-shaped
error bodies, ``Retry-After`` on 429) over real HTTP on 127.0.0.1, so the code under test goes through
litellm and the OpenAI SDK exactly as it would against a hosted model. Each test scripts the replies:

    with FakeOpenAI() as server:
        server.script(reply_json({"statement": "...", "evidence_ids": [...], "competencies": []}))
        server.script(Reply(status=429, headers={"Retry-After": "0"}), reply_text("not json"))
        server.responder = lambda body: ...   # or decide from each request body (parallel projects)
        ... litellm.completion(model="openai/any", api_base=server.api_base, ...)
        server.bodies      # every request body received, parsed, in arrival order

Scripted replies are served first-in first-out; when none is left the ``responder`` decides (by default
:func:`grounded_reply`, which writes a statement the verifier accepts from the prompt's own evidence
block). ``Reply(hang=True)`` holds the connection until the server closes (bounded by ``HANG_LIMIT``);
``latency`` delays every reply. Run it alone for manual tries: ``python tests/fake_openai.py --port 8911``
(``--mode adversarial`` answers each project's first request with one of the issue's bad replies and the
retry with a valid one; ``--mode hostile`` answers only badly; ``--log FILE`` keeps every request body).
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ERROR_KINDS = {
    400: "invalid_request_error",
    401: "invalid_api_key",
    404: "model_not_found",
    429: "rate_limit_exceeded",
}
HANG_LIMIT = 30.0  # seconds a hanging reply waits at most, so no test can leave a thread behind for long


@dataclass
class Reply:
    """One scripted answer: a 200 with ``content`` as the assistant message, or an error ``status``."""

    content: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    hang: bool = False
    error_message: str = ""


def reply_text(content: str) -> Reply:
    return Reply(content=content)


def reply_json(payload: dict[str, Any], *, fenced: bool = False) -> Reply:
    """A reply whose message is ``payload`` as JSON (wrapped in a ```json fence and prose if ``fenced``)."""
    text = json.dumps(payload)
    return Reply(content=f"Here is the statement:\n```json\n{text}\n```\n" if fenced else text)


def rate_limited(retry_after: str = "0") -> Reply:
    return Reply(status=429, headers={"Retry-After": retry_after}, error_message="Rate limit reached")


def server_error(status: int = 503) -> Reply:
    return Reply(status=status, error_message="The server is overloaded")


EVIDENCE_BLOCK = re.compile(r"<evidence>\s*(\[.*?\])\s*</evidence>", re.S)
FACTS_BLOCK = re.compile(r"<facts>\s*(\{.*?\})\s*</facts>", re.S)


def prompt_text(body: dict[str, Any]) -> str:
    """The user messages of a request body, joined."""
    return "\n".join(str(m.get("content", "")) for m in body.get("messages", []) if m.get("role") == "user")


def evidence_in(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The evidence entries the prompt listed (the JSON array in its ``<evidence>`` block)."""
    match = EVIDENCE_BLOCK.search(prompt_text(body))
    return list(json.loads(match.group(1))) if match else []


def grounded_reply(body: dict[str, Any]) -> Reply:
    """A statement built only from the prompt's own facts and evidence ids, as a careful model would."""
    items = evidence_in(body)
    facts_match = FACTS_BLOCK.search(prompt_text(body))
    facts = json.loads(facts_match.group(1)) if facts_match else {}
    commits = facts.get("commits") or facts.get("items") or len(items)
    lines = facts.get("lines")
    scale = f"across {commits} changes" + (f" touching {lines} lines" if lines else "")
    statement = f"Shipped the project's work {scale}, each change linked to its evidence."
    payload = {"statement": statement, "evidence_ids": [i["id"] for i in items], "competencies": []}
    return reply_json(payload)


def adversarial_replies(body: dict[str, Any]) -> list[Reply]:
    """The bad replies of the issue, built for this request's project: malformed JSON, a number the
    evidence lacks, a link to a foreign URL, another project's evidence id, obeying a planted injection."""
    ids = [i["id"] for i in evidence_in(body)] or ["git:unknown@0"]
    base = {"statement": "Shipped the project's work.", "evidence_ids": ids, "competencies": []}
    return [
        reply_text("Sure! Here is a great statement: shipped the search rewrite."),
        reply_json({**base, "statement": "Cut p95 latency by 47% by shipping the project's work."}),
        reply_json({**base, "statement": "Shipped the project's work; see https://evil.example.com/report."}),
        reply_json({**base, "evidence_ids": [*ids, "git:other/repo@0123456789abcdef"]}),
        reply_json({**base, "statement": "Saved $10M by shipping the project's work."}),
    ]


def adversarial_reply(body: dict[str, Any]) -> Reply:
    """First ask of a project: one adversarial reply (chosen by the prompt); a retry: the grounded one."""
    if len(body.get("messages", [])) > 2:
        return grounded_reply(body)
    replies = adversarial_replies(body)
    return replies[sum(prompt_text(body).encode()) % len(replies)]


def hostile_reply(body: dict[str, Any]) -> Reply:
    """Always adversarial, retries included: every project must fall back to its offline statement."""
    replies = adversarial_replies(body)
    return replies[(sum(prompt_text(body).encode()) + len(body.get("messages", []))) % len(replies)]


RESPONDERS = {"grounded": grounded_reply, "adversarial": adversarial_reply, "hostile": hostile_reply}


class FakeOpenAI:
    """The server; a context manager that starts it on a free loopback port and stops it."""

    def __init__(self, *, latency: float = 0.0, port: int = 0) -> None:
        self.latency = latency
        self.bodies: list[dict[str, Any]] = []
        self.raw_bodies: list[str] = []
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.responder: Callable[[dict[str, Any]], Reply] = grounded_reply
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def calls(self) -> int:
        return len(self.bodies)

    def script(self, *replies: Reply) -> None:
        """Queue replies, served in order before the responder is asked."""
        with self._lock:
            self._queue.extend(replies)

    def all_request_text(self) -> str:
        """Every byte every request carried (bodies as received), for leak checks."""
        return "\n".join(self.raw_bodies)

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        return self.responder(body)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8")
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError:
                    self._send(400, _error("invalid JSON body", "invalid_request_error"))
                    return
                with server._lock:
                    server.bodies.append(body)
                    server.raw_bodies.append(raw)
                    server.paths.append(self.path)
                    server.headers.append({k.lower(): v for k, v in self.headers.items()})
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    self._answer(body)
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _answer(self, body: dict[str, Any]) -> None:
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, _error(f"unknown path {self.path}", "invalid_request_error"))
                    return
                reply = server._next_reply(body)
                if reply.hang:
                    server._closing.wait(HANG_LIMIT)
                    return
                pause = reply.delay + server.latency
                if pause:
                    time.sleep(pause)
                if reply.status != 200:
                    kind = ERROR_KINDS.get(reply.status, "server_error")
                    message = reply.error_message or f"error {reply.status}"
                    self._send(reply.status, _error(message, kind), reply.headers)
                    return
                self._send(200, _completion(body, reply.content), reply.headers)

            def _send(
                self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
            ) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout): nothing to answer

        return Handler


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": kind}}


def _completion(body: dict[str, Any], content: str) -> dict[str, Any]:
    prompt_tokens = sum(len(str(m.get("content", ""))) for m in body.get("messages", [])) // 4
    completion_tokens = max(1, len(content) // 4)
    return {
        "id": f"chatcmpl-fake-{int(time.time() * 1000)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "any"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the fake OpenAI-compatible API on loopback.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every reply")
    parser.add_argument("--log", help="append every request body (JSON lines) to this file")
    parser.add_argument(
        "--mode",
        choices=sorted(RESPONDERS),
        default="grounded",
        help="grounded: valid statements; adversarial: a bad first reply per project, then a valid one; "
        "hostile: bad replies only",
    )
    args = parser.parse_args()
    server = FakeOpenAI(latency=args.latency, port=args.port)
    server.responder = RESPONDERS[args.mode]
    server.start()
    print(f"fake OpenAI API at {server.api_base} (Ctrl-C stops it)", flush=True)
    seen = 0
    try:
        while True:
            time.sleep(0.2)
            if args.log and len(server.raw_bodies) > seen:
                with open(args.log, "a", encoding="utf-8") as handle:
                    for raw in server.raw_bodies[seen:]:
                        handle.write(raw.replace("\n", " ") + "\n")
                seen = len(server.raw_bodies)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


if __name__ == "__main__":
    main()

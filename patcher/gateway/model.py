"""A model provider of the tool's own: an OpenAI-compatible chat-completions endpoint on
127.0.0.1, so a real gateway runs cron agent turns without any real model.

A request whose messages contain a *hold word* gets a streaming answer that starts and never
ends (until the server stops or the word is released): the run it belongs to stays in
flight as long as the scenario needs. Any other request is answered at once. Every request
is recorded, so a scenario can tell which job's turn is in flight.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL_ID = "patcher-model"


@dataclass
class Seen:
    """One chat-completions request: the text of its messages and whether it was held."""

    text: str
    held: bool
    at: float = field(default_factory=time.time)


def _text(body: dict[str, Any]) -> str:
    parts = []
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts += [c.get("text", "") for c in content if isinstance(c, dict)]
    return "\n".join(parts)


class ModelServer:
    """The stand-in provider; `hold(word)` makes matching requests hang, `release(word)`
    lets them finish."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self._held: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet: the report says what matters
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._json({"object": "list", "data": [{"id": MODEL_ID, "object": "model"}]})
                else:
                    self._json({"error": {"message": "not found"}}, 404)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = {}
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._json({"error": {"message": "not found"}}, 404)
                    return
                server._answer(self, body)

            def _json(self, payload: dict[str, Any], status: int = 200) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> ModelServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            for event in self._held.values():
                event.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def hold(self, word: str) -> None:
        with self._lock:
            self._held[word] = threading.Event()

    def release(self, word: str) -> None:
        with self._lock:
            event = self._held.pop(word, None)
        if event is not None:
            event.set()

    def holding(self, word: str) -> bool:
        """Whether a request naming `word` is being held open right now."""
        with self._lock:
            return word in self._held and any(s.held and word in s.text for s in self.seen)

    def requests_naming(self, word: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if word in s.text]

    def _answer(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        text = _text(body)
        with self._lock:
            hold = next((e for w, e in self._held.items() if w in text), None)
            self.seen.append(Seen(text, hold is not None))
        stream = bool(body.get("stream"))
        reply = "done"
        if not stream:
            if hold is not None:
                hold.wait()
            handler._json(  # type: ignore[attr-defined]
                {
                    "id": "chatcmpl-patcher",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model") or MODEL_ID,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": reply},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }
            )
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Connection", "close")
        handler.end_headers()

        def event(delta: dict[str, Any], finish: str | None = None) -> None:
            chunk = {
                "id": "chatcmpl-patcher",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": body.get("model") or MODEL_ID,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            handler.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            handler.wfile.flush()

        try:
            event({"role": "assistant", "content": ""})
            if hold is not None:
                # Keep the stream alive (a comment line now and then) until released.
                while not hold.wait(5):
                    handler.wfile.write(b": held\n\n")
                    handler.wfile.flush()
                if self._stopping.is_set():
                    return
            event({"content": reply})
            event({}, "stop")
            handler.wfile.write(b"data: [DONE]\n\n")
            handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the gateway was killed mid-stream: that is the scenario

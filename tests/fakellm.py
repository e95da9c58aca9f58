"""A fake OpenAI-compatible HTTP server for tests (stdlib only).

    with FakeLLM() as llm:
        llm.script(reply="Hello there", chunk_size=3)
        llm.script(error=429, retry_after=2)
        ... point a client at llm.url (``http://127.0.0.1:PORT/v1``) ...
        llm.last_messages()

Behaviours queued with :meth:`FakeLLM.script` are consumed one per chat-completion request;
when the queue is empty the default behaviour (set with ``default=True`` or via the
constructor) answers. Every request is recorded in ``.requests``.
"""

from __future__ import annotations

import collections
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "model_not_found"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", None),
}

_DEFAULT_MESSAGES = {
    400: "Invalid request.",
    401: "Incorrect API key provided: sk-test-***. You can find your API key at https://example.invalid.",
    403: "Permission denied.",
    404: "The model `fake-model` does not exist or you do not have access to it.",
    429: "Rate limit reached for requests.",
    500: "The server had an error while processing your request.",
    503: "The server is overloaded.",
}


@dataclass
class Behaviour:
    """One scripted answer. See :meth:`FakeLLM.script`."""

    reply: str | None = None
    reply_fn: Callable[[dict], str] | None = None
    chunk_size: int = 4
    delay: float = 0.0
    error: int | None = None
    message: str | None = None
    code: str | None = None
    retry_after: float | None = None
    stall: float = 0.0
    break_after: int | None = None
    usage: tuple[int, int] | None = None
    malformed_after: int | None = None

    def text_for(self, body: dict) -> str:
        if self.reply_fn is not None:
            return self.reply_fn(body)
        if self.reply is not None:
            return self.reply
        return "Hello from the fake model."


def _rough_tokens(body: dict) -> int:
    total = 0
    for m in body.get("messages") or []:
        content = m.get("content")
        if isinstance(content, list):
            content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        total += 4 + len(str(content or "")) // 4
    return max(total, 1)


class FakeLLM:
    """Threaded OpenAI-compatible server on 127.0.0.1 with a scriptable behaviour queue."""

    def __init__(self, default: Behaviour | None = None, *, model: str = "fake-model") -> None:
        self.model = model
        self.default = default or Behaviour()
        self.requests: list[dict[str, Any]] = []
        self._queue: collections.deque[Behaviour] = collections.deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stop_event = threading.Event()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FakeLLM:
        if self._server is not None:
            return self
        fake = self

        class Handler(_Handler):
            owner = fake

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        self._stop_event.clear()
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name="fakellm",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop_event.set()  # wakes stalled handlers
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "FakeLLM not started"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # ------------------------------------------------------------------ scripting
    def script(
        self,
        reply: str | None = None,
        *,
        reply_fn: Callable[[dict], str] | None = None,
        json: Any = None,  # noqa: A002 - the brief's name
        chunk_size: int = 4,
        delay: float = 0.0,
        error: int | None = None,
        message: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        stall: float = 0.0,
        break_after: int | None = None,
        usage: tuple[int, int] | None = None,
        malformed_after: int | None = None,
        default: bool = False,
    ) -> FakeLLM:
        """Queue one behaviour (or replace the default with ``default=True``).

        - ``reply``: the full text, streamed in ``chunk_size``-character chunks with ``delay``
          seconds between chunks.
        - ``reply_fn(body) -> str``: a dynamic reply computed from the request JSON.
        - ``json``: reply with ``json.dumps(obj)``.
        - ``error``: HTTP status (400/401/404/429/500/...) with OpenAI-style error JSON;
          ``message`` overrides the text, ``code`` the error code (400 defaults to
          ``context_length_exceeded``), ``retry_after`` sets the Retry-After header.
        - ``stall``: sleep this many seconds before answering.
        - ``break_after``: stream this many chunks, then drop the connection.
        - ``usage``: ``(prompt_tokens, completion_tokens)`` to report (else estimated).
        - ``malformed_after``: stream this many text chunks, then an SSE event that is not
          JSON (``data: {'oops``), then the rest as usual.
        - A trickling provider: ``chunk_size=1, delay=0.5`` (one character every 0.5 s).
        """
        if json is not None:
            import json as _json

            reply = _json.dumps(json)
        if error == 400 and code is None:
            code = "context_length_exceeded"
            if message is None:
                message = (
                    "This model's maximum context length is 8192 tokens. However, your messages "
                    "resulted in 9000 tokens. Please reduce the length of the messages."
                )
        b = Behaviour(
            reply=reply,
            reply_fn=reply_fn,
            chunk_size=max(1, chunk_size),
            delay=delay,
            error=error,
            message=message,
            code=code,
            retry_after=retry_after,
            stall=stall,
            break_after=break_after,
            usage=usage,
            malformed_after=malformed_after,
        )
        with self._lock:
            if default:
                self.default = b
            else:
                self._queue.append(b)
        return self

    def _next(self) -> Behaviour:
        with self._lock:
            return self._queue.popleft() if self._queue else self.default

    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    # ------------------------------------------------------------------ inspection
    def _record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(entry)

    def chat_requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if r["path"].endswith("/chat/completions")]

    def last_request(self) -> dict[str, Any]:
        reqs = self.chat_requests()
        assert reqs, "FakeLLM got no chat completion request"
        return reqs[-1]

    def last_messages(self) -> list[dict]:
        return (self.last_request().get("body") or {}).get("messages") or []

    def _sleep(self, seconds: float) -> bool:
        """Sleep, returning True early if the server is stopping."""
        return self._stop_event.wait(seconds) if seconds > 0 else False


class _Handler(BaseHTTPRequestHandler):
    owner: FakeLLM
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # keep test output quiet

    # ------------------------------------------------------------------ helpers
    def _read_body(self) -> tuple[bytes, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return raw, parsed

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _record(self, body: Any) -> None:
        self.owner._record(
            {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body,
                "time": time.time(),
            }
        )

    # ------------------------------------------------------------------ endpoints
    def do_GET(self) -> None:  # noqa: N802
        self._record(None)
        if self.path.rstrip("/").endswith("/models"):
            self._send_json(
                200,
                {
                    "object": "list",
                    "data": [
                        {
                            "id": self.owner.model,
                            "object": "model",
                            "created": 0,
                            "owned_by": "fakellm",
                        }
                    ],
                },
            )
        else:
            self._no_route()

    def _no_route(self) -> None:
        self._send_json(
            404,
            {
                "error": {
                    "message": f"no route {self.path}",
                    "type": "invalid_request_error",
                    "code": None,
                }
            },
        )

    def do_POST(self) -> None:  # noqa: N802
        _, body = self._read_body()
        self._record(body)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._no_route()
            return
        body = body if isinstance(body, dict) else {}
        b = self.owner._next()
        if b.stall and self.owner._sleep(b.stall):
            return  # server stopping
        if b.error is not None:
            self._send_error(b)
            return
        try:
            text = b.text_for(body)
        except Exception as exc:  # a broken reply_fn surfaces as a 500
            self._send_json(
                500,
                {
                    "error": {
                        "message": f"reply_fn failed: {exc!r}",
                        "type": "server_error",
                        "code": None,
                    }
                },
            )
            return
        if body.get("stream"):
            self._stream(body, b, text)
        else:
            self._complete(body, b, text)

    def _send_error(self, b: Behaviour) -> None:
        status = int(b.error or 500)
        etype, ecode = _ERROR_TYPES.get(status, ("server_error", None))
        headers = {}
        if b.retry_after is not None:
            ra = b.retry_after
            headers["Retry-After"] = str(int(ra)) if float(ra).is_integer() else str(ra)
            headers["retry-after-ms"] = str(int(ra * 1000))
        self._send_json(
            status,
            {
                "error": {
                    "message": b.message or _DEFAULT_MESSAGES.get(status, f"error {status}"),
                    "type": etype,
                    "param": "messages" if b.code == "context_length_exceeded" else None,
                    "code": b.code or ecode,
                }
            },
            headers,
        )

    def _usage(self, body: dict, b: Behaviour, text: str) -> dict:
        if b.usage is not None:
            p, c = b.usage
        else:
            p, c = _rough_tokens(body), max(1, len(text) // 4)
        return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}

    def _model(self, body: dict) -> str:
        return str(body.get("model") or self.owner.model)

    def _complete(self, body: dict, b: Behaviour, text: str) -> None:
        self._send_json(
            200,
            {
                "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": self._model(body),
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": text},
                    }
                ],
                "usage": self._usage(body, b, text),
            },
        )

    def _stream(self, body: dict, b: Behaviour, text: str) -> None:
        cid = f"chatcmpl-{uuid.uuid4().hex[:12]}"
        created = int(time.time())
        model = self._model(body)

        def chunk(
            delta: dict, finish: str | None = None, usage: dict | None = None, choices: bool = True
        ) -> bytes:
            obj: dict[str, Any] = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
                if choices
                else [],
            }
            if usage is not None:
                obj["usage"] = usage
            return b"data: " + json.dumps(obj).encode() + b"\n\n"

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        # Chunked, so that dropping the connection midway is a protocol error for the client
        # rather than a clean end of body.
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

        def send(data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        pieces = [text[i : i + b.chunk_size] for i in range(0, len(text), b.chunk_size)] or [""]
        try:
            send(chunk({"role": "assistant", "content": ""}))
            for n, piece in enumerate(pieces):
                if b.break_after is not None and n >= b.break_after:
                    self._abort()
                    return
                if n and b.delay and self.owner._sleep(b.delay):
                    self._abort()
                    return
                if b.malformed_after is not None and n == b.malformed_after:
                    send(b"data: {'oops': not json\n\n")
                send(chunk({"content": piece}))
            if b.break_after is not None:
                # asked to break at/after the last text chunk: still never finish cleanly
                self._abort()
                return
            # Usage is always sent, whether or not stream_options.include_usage was asked
            # for (litellm sometimes expects it): as a final chunk with empty choices,
            # the way OpenAI sends it for include_usage.
            send(chunk({}, finish="stop"))
            send(chunk({}, usage=self._usage(body, b, text), choices=False))
            send(b"data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (e.g. cancelled)

    def _abort(self) -> None:
        """Drop the connection without finishing the chunked body (a FIN, not a clean end)."""
        try:
            self.wfile.flush()
        except OSError:
            pass
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.close_connection = True

"""Real servers on loopback ports for the channel tests: an SMTP sink and an HTTP sink.

Both record what they receive, and both are stopped by their fixtures however a test ends.

``SmtpSink`` is an aiosmtpd server: ``messages`` (parsed, with the envelope and the client's
address), ``connections`` (TCP connections opened by clients since it started) and ``refuse``
(addresses it rejects with a 550).

``HttpSink`` is a threaded ``http.server``: ``requests`` (method, path, headers, body) and a
queue of answers set with :meth:`HttpSink.answer` (a status, a body, a delay, a redirect);
once the queue is empty every request gets ``200 ok``.

The fixtures are named ``smtp_sink``, ``email_settings``, ``http_sinks`` and ``http_sink``; a test
module imports their functions (``from tests.sinks import smtp_sink_fixture  # noqa: F401``) to
use them.
"""

from __future__ import annotations

import collections
import email
import email.policy
import http.server
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from tests.services import free_port

# --- SMTP -------------------------------------------------------------------------------------


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    #: The client's (host, port): messages sent over one connection share it.
    peer: tuple[str, int]
    raw: bytes


class _CountingSMTP(SMTP):
    def __init__(self, sink: SmtpSink, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sink = sink

    def connection_made(self, transport: Any) -> None:
        if self.transport is None:  # a new connection, not a STARTTLS upgrade of one
            with self._sink.lock:
                self._sink.connections += 1
        super().connection_made(transport)


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(self, server: SMTP, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:
        if address in self.sink.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        with self.sink.lock:
            self.sink.messages.append(ReceivedMail(
                mail_from=envelope.mail_from, rcpt_tos=list(envelope.rcpt_tos), message=message,
                peer=tuple(session.peer[:2]), raw=raw,
            ))
        return "250 Message accepted for delivery"


class _Controller(Controller):
    def __init__(self, sink: SmtpSink, **kwargs: Any) -> None:
        super().__init__(_Handler(sink), **kwargs)
        self.sink = sink

    def factory(self) -> SMTP:
        return _CountingSMTP(self.sink, self.handler, **self.SMTP_kwargs)


class SmtpSink:
    """An SMTP server on 127.0.0.1 that accepts every message and keeps it."""

    def __init__(self, port: int | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.lock = threading.Lock()
        self.messages: list[ReceivedMail] = []
        self.connections = 0
        #: Addresses answered "550 No such user" at RCPT TO.
        self.refuse: set[str] = set()
        self._controller = _Controller(self, hostname=self.host, port=self.port, ready_timeout=10)

    def start(self) -> SmtpSink:
        self._controller.start()
        # start() opens one connection of its own to check the server answers: not a client's.
        with self.lock:
            self.connections = 0
        return self

    def stop(self) -> None:
        self._controller.stop(no_assert=True)

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def use_smtp(settings: Any, port: int, **inbox: Any) -> None:
    """Point Django's SMTP backend at 127.0.0.1:``port`` and configure the inbox for e-mail."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    settings.INBOX = {"SITE_URL": "https://example.com", "PROVIDERS": {"email": {}}, **inbox}


@pytest.fixture(name="smtp_sink")
def smtp_sink_fixture() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture(name="email_settings")
def email_settings_fixture(settings: Any, smtp_sink: SmtpSink) -> SmtpSink:
    """Django sends mail to ``smtp_sink``; the inbox's SITE_URL is https://example.com."""
    use_smtp(settings, smtp_sink.port, PROVIDERS={"email": {"FROM": "inbox@example.com"}})
    return smtp_sink


# --- HTTP -------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"ok"
    #: Seconds to wait before answering (cut short when the sink stops).
    delay: float = 0
    #: A Location header (for a redirect).
    location: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        """A header, whatever its case."""
        wanted = name.lower()
        return next((value for key, value in self.headers.items() if key.lower() == wanted), None)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    sink: HttpSink


class _RequestHandler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        sink = self.server.sink
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        answer = sink.record(ReceivedRequest(self.command, self.path, dict(self.headers.items()), body))
        if answer.delay and sink.released.wait(answer.delay):
            self.close_connection = True
            return  # stopping: drop the request unanswered
        try:
            self.send_response(answer.status)
            if answer.location:
                self.send_header("Location", answer.location)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(answer.body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(answer.body)
        except OSError:  # the client gave up (a timeout): nobody is listening any more
            pass
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_HEAD = _handle

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


class HttpSink:
    """An HTTP server on 127.0.0.1 that records every request and answers as told."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: list[ReceivedRequest] = []
        self.answers: collections.deque[Answer] = collections.deque()
        self.default = Answer()
        self.released = threading.Event()
        self.lock = threading.Lock()
        self._server = _Server(("127.0.0.1", self.port), _RequestHandler)
        self._server.sink = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def start(self) -> HttpSink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def answer(self, status: int = 200, body: bytes = b"ok", *, delay: float = 0, location: str | None = None,
               times: int = 1) -> HttpSink:
        """Answer the next ``times`` requests so (after those queued before)."""
        for _ in range(times):
            self.answers.append(Answer(status=status, body=body, delay=delay, location=location))
        return self

    def record(self, request: ReceivedRequest) -> Answer:
        with self.lock:
            self.requests.append(request)
            return self.answers.popleft() if self.answers else self.default

    def paths(self) -> list[str]:
        with self.lock:
            return [request.path for request in self.requests]


@pytest.fixture(name="http_sinks")
def http_sinks_fixture() -> Iterator[Callable[[], HttpSink]]:
    """A factory of started HTTP sinks, all stopped after the test."""
    started: list[HttpSink] = []

    def make() -> HttpSink:
        sink = HttpSink().start()
        started.append(sink)
        return sink

    try:
        yield make
    finally:
        for sink in started:
            sink.stop()


@pytest.fixture(name="http_sink")
def http_sink_fixture(http_sinks: Callable[[], HttpSink]) -> HttpSink:
    return http_sinks()

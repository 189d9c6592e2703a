"""SMTP servers on loopback for the tests (aiosmtpd handlers)."""

from __future__ import annotations

import asyncio
import threading
import time


class Recorder:
    """An aiosmtpd handler that keeps each message it receives."""

    def __init__(self):
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        from email import message_from_bytes
        from email.policy import default

        self.messages.append(message_from_bytes(envelope.content, policy=default))
        return "250 Message accepted"

    def wait_for(self, count: int, timeout: float = 20.0) -> list:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages


class Sink:
    """An aiosmtpd handler that records messages and can be slow or refuse on demand."""

    def __init__(self):
        self.messages: list = []
        self.rcpt_seen = threading.Event()
        self.slow_rcpt_once = 0.0  # seconds the first RCPT is held (a send in progress)
        self.refusing = False
        self.refused = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.rcpt_seen.set()
        if self.slow_rcpt_once:
            delay, self.slow_rcpt_once = self.slow_rcpt_once, 0.0
            await asyncio.sleep(delay)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.refusing:
            self.refused += 1
            return "451 4.3.0 Try again later"
        from email import message_from_bytes
        from email.policy import default

        self.messages.append(message_from_bytes(envelope.content, policy=default))
        return "250 Message accepted"

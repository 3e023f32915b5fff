"""The one error a client raises when its service does not answer: names the service, its address and the fix."""

from __future__ import annotations

FIX = "is the stack up? (websessions stack up)"


class ServiceUnreachable(ConnectionError):
    """``service`` at ``address`` did not answer; the message is one line ending with the fix."""

    def __init__(self, service: str, address: str, cause: object):
        text = str(cause).strip()
        reason = text.splitlines()[0] if text else type(cause).__name__
        super().__init__(f"{service} at {address} is not reachable ({reason}); {FIX}")
        self.service = service
        self.address = address

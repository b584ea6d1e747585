"""A cap on request body size, enforced before FastAPI reads the body.

Uploads of a real round are well below a megabyte; the cap stops a 10 MB (or 10 GB) body from
being parsed or buffered beyond the cap. A request announcing a larger Content-Length is refused
at once; a body without one (chunked) is read up to the cap and refused as soon as it exceeds
it, before the application sees any of it.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Largest accepted request body (bytes); see README, "Limits".
MAX_BODY_BYTES = 8 * 1024 * 1024


class BodySizeLimit:
    """ASGI middleware answering 413 for bodies above ``limit`` bytes."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None:
            if declared.isdigit() and int(declared) > self.limit:
                await self._refuse(send)
            else:
                await self.app(scope, receive, send)
            return
        messages = await self._read_capped(receive)
        if messages is None:
            await self._refuse(send)
            return
        await self.app(scope, _replay(messages, receive), send)

    async def _read_capped(self, receive: Receive) -> list[Message] | None:
        """The request's body messages, or None once they exceed the cap."""
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages
            size += len(message.get("body", b""))
            if size > self.limit:
                return None
            if not message.get("more_body", False):
                return messages

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {
                "detail": f"Anfrage zu groß (höchstens {self.limit // 1024 // 1024} MB).",
                "errors": [{"field": "body", "message": f"größer als {self.limit} Bytes"}],
            },
            ensure_ascii=False,
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A receive callable that hands out the buffered messages, then the live ones."""
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay

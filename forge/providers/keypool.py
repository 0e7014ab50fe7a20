"""Per-key state for concurrent requests: ready, cooling down, or revoked.

Each key gets its own client (made by the caller) and its own clock: a 429
cools down only the key that got it, for as long as the server asked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from .secrets import ApiKey

Client = TypeVar("Client")


class NoUsableKeyError(RuntimeError):
    """Every key was refused by the server (revoked, invalid or without permission)."""


@dataclass
class KeyState(Generic[Client]):
    key: ApiKey | None  # None: a server that needs no key
    client: Client
    ready_at: float = 0.0
    in_flight: int = 0
    revoked_reason: str | None = None
    requests: int = 0
    rate_limited: int = 0
    errors: int = 0

    @property
    def name(self) -> str:
        return self.key.name if self.key else "no-key"


class KeyPool(Generic[Client]):
    def __init__(
        self,
        keys: list[ApiKey | None],
        make_client: Callable[[ApiKey | None], Client],
        error_cooldown: float = 1.0,
        default_retry_after: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not keys:
            raise NoUsableKeyError("no API key given")
        self._states = [KeyState(key, make_client(key)) for key in keys]
        self._cond = threading.Condition()
        self._clock = clock
        self.error_cooldown = error_cooldown
        self.default_retry_after = default_retry_after

    @property
    def states(self) -> list[KeyState[Client]]:
        return list(self._states)

    def acquire(self, stop: threading.Event | None = None) -> KeyState[Client]:
        """The ready key with the fewest requests in flight; waits while every key cools down."""
        with self._cond:
            while True:
                if stop is not None and stop.is_set():
                    raise InterruptedError("generation stopped")
                live = [s for s in self._states if s.revoked_reason is None]
                if not live:
                    reasons = "; ".join(f"{s.name}: {s.revoked_reason}" for s in self._states)
                    raise NoUsableKeyError(f"every API key was refused ({reasons})")
                now = self._clock()
                ready = [s for s in live if s.ready_at <= now]
                if ready:
                    state = min(ready, key=lambda s: (s.in_flight, s.requests))
                    state.in_flight += 1
                    state.requests += 1
                    return state
                # Wake at least every quarter second to notice `stop` (nothing notifies on it).
                self._cond.wait(timeout=min(min(s.ready_at for s in live) - now, 0.25))

    def succeeded(self, state: KeyState[Client]) -> None:
        self._release(state, 0.0)

    def rate_limited(self, state: KeyState[Client], retry_after: float | None) -> None:
        state.rate_limited += 1
        self._release(state, self.default_retry_after if retry_after is None else retry_after)

    def failed(self, state: KeyState[Client]) -> None:
        state.errors += 1
        self._release(state, self.error_cooldown)

    def revoke(self, state: KeyState[Client], reason: str) -> None:
        with self._cond:
            state.revoked_reason = reason
            state.in_flight -= 1
            self._cond.notify_all()

    def _release(self, state: KeyState[Client], cooldown: float) -> None:
        with self._cond:
            state.in_flight -= 1
            if cooldown > 0:
                state.ready_at = max(state.ready_at, self._clock() + cooldown)
            self._cond.notify_all()

"""Staff sign-in: argon2 password hashes, two roles, login throttling per (account, client) and CSRF tokens."""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from limits import RateLimitItemPerMinute, storage, strategies

ROLES = ("viewer", "reviewer")
_hasher = PasswordHasher()
# A hash to verify against when the user name is unknown, so timing does not reveal which names exist.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


@dataclass(frozen=True)
class StaffUser:
    name: str
    role: str
    password_hash: str

    @property
    def can_review(self) -> bool:
        return self.role == "reviewer"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify(users: dict[str, StaffUser], name: str, password: str) -> StaffUser | None:
    user = users.get(name)
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    return user


class LoginLimiter:
    """Sign-in throttling per (account, client): after ``free_attempts`` failures from one client for one name,
    each further attempt waits a delay that doubles with every failure (up to ``max_delay_seconds``). Keyed by
    both, so a stranger guessing a staff member's password slows down only himself, never the staff member
    signing in from her own address. On top, one client may try at most ``per_client_per_minute`` times a
    minute across all names (spraying many names is slowed too)."""

    def __init__(self, free_attempts: int = 5, max_delay_seconds: float = 900.0, per_client_per_minute: int = 30,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.free_attempts = free_attempts
        self.max_delay = max_delay_seconds
        self._clock = clock
        self._failures: dict[tuple[str, str], tuple[int, float]] = {}  # (name, client) → (count, last failure)
        self._lock = threading.Lock()
        self._per_client = strategies.MovingWindowRateLimiter(storage.MemoryStorage())
        self._client_item = RateLimitItemPerMinute(per_client_per_minute)

    def delay(self, failures: int) -> float:
        if failures < self.free_attempts:
            return 0.0
        return float(min(self.max_delay, 2 ** (failures - self.free_attempts + 1)))

    def wait_seconds(self, name: str, client: str) -> float:
        """Seconds this client must still wait before trying this name (0: go ahead)."""
        with self._lock:
            count, last = self._failures.get((name.casefold(), client), (0, 0.0))
        waited = self._clock() - last
        remaining = self.delay(count) - waited
        if remaining > 0:
            return remaining
        if not self._per_client.hit(self._client_item, "login-client", client):
            return 60.0
        return 0.0

    def failed(self, name: str, client: str) -> None:
        with self._lock:
            count, _ = self._failures.get((name.casefold(), client), (0, 0.0))
            self._failures[(name.casefold(), client)] = (count + 1, self._clock())
            if len(self._failures) > 100_000:  # a spray of names must not grow this without bound
                self._failures.clear()

    def succeeded(self, name: str, client: str) -> None:
        with self._lock:
            self._failures.pop((name.casefold(), client), None)


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_ok(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))

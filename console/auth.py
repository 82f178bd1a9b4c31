"""Staff sign-in: argon2 password hashes, two roles, a login rate limit and CSRF tokens."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

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
    """At most ``per_minute`` sign-in attempts per client address and per user name."""

    def __init__(self, per_minute: int = 5) -> None:
        self._limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())
        self._item = RateLimitItemPerMinute(per_minute)

    def allow(self, *keys: str) -> bool:
        return all(self._limiter.hit(self._item, "login", k) for k in keys)


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_ok(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))

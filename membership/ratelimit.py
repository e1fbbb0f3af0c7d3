"""Sliding-window rate limits shared by every web process: in Redis when REDIS_URL is set, else in the database.

Each check-and-record is atomic, so simultaneous requests can't slip past a limit together: in Redis one Lua
script checks and records; in the database a lock held until the transaction ends makes simultaneous
requests count one after another (on PostgreSQL an advisory lock on the bucket and key, on SQLite its one
write lock). If Redis can't be reached, the database counts instead.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis
from flask import current_app, has_app_context
from sqlalchemy import Index, String, delete, false, func, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from membership.db import Base, UTCDateTime, rows_affected, utcnow
from membership.metrics import RATE_LIMIT_REFUSALS
from membership.queue import redis_queue

log = logging.getLogger(__name__)

# Count one attempt unless `limit` already fall inside the window. KEYS: the hits (a sorted set by time).
# ARGV: window ms, limit, a unique member. Redis's own clock, so every web process counts on the same time.
_ALLOW = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""
# Count one failure; the `attempts`-th inside the window locks the key (and the count starts again). KEYS: the
# failures, the lock. ARGV: window ms, attempts, lock ms, a unique member. Returns {0, 0} counted, {1, locked
# at ms} already locked, {2, locked at ms} locked by this failure.
_STRIKE = """
local locked = redis.call('GET', KEYS[2])
if locked then return {1, tonumber(locked)} end
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
if redis.call('ZCARD', KEYS[1]) + 1 >= tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], now, 'PX', ARGV[3])
  return {2, now}
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return {0, 0}
"""


class RateLimitHit(Base):
    """One counted attempt. The key is hashed, so addresses and IPs aren't kept in clear here."""

    __tablename__ = "rate_limit_hits"

    id: Mapped[int] = mapped_column(primary_key=True)
    bucket: Mapped[str] = mapped_column(String(40))
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index("ix_rate_limit_hits_bucket_key_created", "bucket", "key_hash", "created_at"),)


def _hash(key: str) -> str:
    return hashlib.sha256(key.strip().lower().encode()).hexdigest()


def _redis() -> redis.Redis | None:
    return redis_queue() if has_app_context() else None


def _redis_key(bucket: str, key_hash: str) -> str:
    return f"{current_app.config['RATE_LIMIT_KEY_PREFIX']}:{bucket}:{key_hash}"


def _ms(window: timedelta) -> int:
    return max(1, int(window.total_seconds() * 1000))


def _serialise(session: Session, bucket: str, key_hash: str) -> None:
    """Hold a lock on (bucket, key) until the transaction ends, so simultaneous attempts count one at a time."""
    if session.get_bind().dialect.name == "postgresql":
        lock_id = int.from_bytes(hashlib.sha256(f"{bucket}:{key_hash}".encode()).digest()[:8], "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:lock_id)"), {"lock_id": lock_id})
    else:
        # SQLite has one write lock for the whole file. A write that changes nothing takes it now, before the
        # count is read (Python's sqlite3 would otherwise read outside any transaction).
        session.execute(delete(RateLimitHit).where(false()))


def allow(session: Session, bucket: str, key: str, limit: int, window: timedelta) -> bool:
    """Count an attempt for `key` in `bucket` unless `limit` attempts already fall inside `window`. A refusal is
    counted in `membership_rate_limit_refusals` (by bucket: every process's, whichever host refused)."""
    allowed = _allow(session, bucket, key, limit, window)
    if not allowed:
        RATE_LIMIT_REFUSALS.labels(bucket).inc()
    return allowed


def _allow(session: Session, bucket: str, key: str, limit: int, window: timedelta) -> bool:
    limiter = _redis()
    if limiter is not None:
        try:
            return bool(limiter.eval(_ALLOW, 1, _redis_key(bucket, _hash(key)), _ms(window), limit,
                                     uuid.uuid4().hex))
        except redis.RedisError as exc:
            log.warning("Redis is unreachable for the %s rate limit (%s); counting in the database.", bucket, exc)
    _serialise(session, bucket, _hash(key))
    return _allow_in_database(session, bucket, key, limit, window)


def _allow_in_database(session: Session, bucket: str, key: str, limit: int, window: timedelta) -> bool:
    now = utcnow()
    key_hash = _hash(key)
    recent = session.scalar(
        select(func.count()).select_from(RateLimitHit).where(
            RateLimitHit.bucket == bucket, RateLimitHit.key_hash == key_hash, RateLimitHit.created_at > now - window
        )
    )
    if (recent or 0) >= limit:
        return False
    session.add(RateLimitHit(bucket=bucket, key_hash=key_hash, created_at=now))
    session.flush()
    return True


@dataclass(frozen=True)
class Strike:
    """How a counted failure left its key: unlocked (`locked_until` None), or locked until then, by this failure
    (`locked_now`) or an earlier one."""

    locked_until: datetime | None = None
    locked_now: bool = False


def strike(session: Session, bucket: str, key: str, attempts: int, window: timedelta, lock: timedelta) -> Strike:
    """Count a failure for `key`: the `attempts`-th inside `window` locks `key` for `lock`, and its count starts
    again after. A locked key counts nothing. The lock is kept in the bucket `<bucket>_lock`."""
    limiter = _redis()
    if limiter is not None:
        try:
            key_hash = _hash(key)
            state, locked_ms = limiter.eval(
                _STRIKE, 2, _redis_key(bucket, key_hash), _redis_key(f"{bucket}_lock", key_hash), _ms(window),
                attempts, _ms(lock), uuid.uuid4().hex)
        except redis.RedisError as exc:
            log.warning("Redis is unreachable for the %s lock-out (%s); counting in the database.", bucket, exc)
        else:
            if not state:
                return Strike()
            return Strike(datetime.fromtimestamp(int(locked_ms) / 1000, UTC) + lock, locked_now=state == 2)
    _serialise(session, bucket, _hash(key))
    locked_at = latest(session, f"{bucket}_lock", key, lock)
    if locked_at is not None:
        return Strike(locked_at + lock)
    if _allow_in_database(session, bucket, key, attempts - 1, window):
        return Strike()
    clear(session, bucket, key)
    _allow_in_database(session, f"{bucket}_lock", key, 1, lock)
    return Strike(utcnow() + lock, locked_now=True)


def latest(session: Session, bucket: str, key: str, window: timedelta) -> datetime | None:
    """When `key` last counted in `bucket`, if within `window`."""
    return session.scalar(
        select(func.max(RateLimitHit.created_at)).where(
            RateLimitHit.bucket == bucket, RateLimitHit.key_hash == _hash(key),
            RateLimitHit.created_at > utcnow() - window,
        )
    )


def clear(session: Session, bucket: str, key: str) -> None:
    """Forget every attempt `key` made in `bucket` (its count starts again)."""
    session.execute(delete(RateLimitHit).where(RateLimitHit.bucket == bucket, RateLimitHit.key_hash == _hash(key)))


def prune(session: Session, older_than: timedelta = timedelta(days=2)) -> int:
    """Forget hits too old to matter (run by the periodic jobs)."""
    result = session.execute(delete(RateLimitHit).where(RateLimitHit.created_at < utcnow() - older_than))
    return rows_affected(result)

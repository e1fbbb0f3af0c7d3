"""Sliding-window rate limits kept in the database, so every web process shares them."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import Index, String, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from membership.db import Base, UTCDateTime, rows_affected, utcnow


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


def allow(session: Session, bucket: str, key: str, limit: int, window: timedelta) -> bool:
    """Count an attempt for `key` in `bucket` unless `limit` attempts already fall inside `window`."""
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

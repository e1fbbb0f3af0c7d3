"""What the event handlers share: an insert that can skip conflicts, the supporter lock, ids."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from membership.supporters.models import Supporter


def lock_supporter(session: Session, supporter_id: int) -> Supporter | None:
    """Serialise work on one supporter's rows across concurrent webhook deliveries."""
    return session.scalar(_LOCK_SUPPORTER, {"supporter_id": supporter_id})


# Built once (every event runs it): building a statement costs more than running it.
_LOCK_SUPPORTER = (select(Supporter).where(Supporter.id == bindparam("supporter_id")).with_for_update()
                   .execution_options(populate_existing=True))


def metadata_checkout_id(metadata: dict[str, Any] | None) -> int | None:
    raw = (metadata or {}).get("checkout_id")
    return int(raw) if raw is not None and str(raw).isdigit() else None


def stripe_id(value: Any) -> str | None:
    """A Stripe reference that may be an id or an expanded object."""
    if isinstance(value, dict):
        return str(value["id"])
    return str(value) if value else None

"""Staff fixtures: accounts of each role, a client signed in as one of them, and January's payments to export."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, Response

from membership.db import db
from membership.giving.models import PaymentKind, PaymentStatus
from tests.support.reports import TARAS, add_checkout, add_membership, add_payment, add_supporter, at


@pytest.fixture
def payments(app: Flask) -> dict[str, Any]:
    olena = add_supporter("olena@example.org", "Olena Kovalenko")
    taras = add_supporter("taras@example.org", TARAS)
    erased = add_supporter("gone@example.org", "Gone", erased_at=at("2026-02-01"))
    erased.email, erased.name = None, ""
    article = "https://news.example/frontline"
    start = add_checkout(olena, 1000, completed="2026-01-05", source_url=article, utm_source="newsletter",
                         utm_medium="email", utm_campaign="winter")
    membership = add_membership(olena, 1000, started="2026-01-05", checkout_id=start.id)
    first = add_payment(olena, 1000, "2026-01-05 10:00", kind=PaymentKind.MEMBERSHIP, fee_minor=40,
                        membership_id=membership.id, checkout_id=start.id, stripe_invoice_id="in_first")
    renewal = add_payment(olena, 1000, "2026-01-31 23:59:59", kind=PaymentKind.MEMBERSHIP, fee_minor=40,
                          membership_id=membership.id, stripe_invoice_id="in_renewal")
    gift = add_payment(taras, 2500, "2026-01-10 08:30", currency="USD", fee_minor=103,
                       status=PaymentStatus.PARTIALLY_REFUNDED, refunded_minor=500,
                       checkout_id=add_checkout(taras, 2500, currency="USD", completed="2026-01-10").id)
    anonymous = add_payment(erased, 700, "2026-01-20", fee_minor=36)
    add_payment(olena, 9999, "2025-12-31 23:59:59")
    add_payment(olena, 9999, "2026-02-01 00:00")
    db.session.commit()
    return {"olena": olena, "taras": taras, "erased": erased, "membership": membership, "first": first,
            "renewal": renewal, "gift": gift, "anonymous": anonymous}


@pytest.fixture
def flask_responses(app: Flask) -> list[Response]:
    """The responses as the app returned them (the test client wraps every body in an iterator)."""
    seen: list[Response] = []

    @app.after_request
    def keep(response: Response) -> Response:
        seen.append(response)
        return response

    return seen

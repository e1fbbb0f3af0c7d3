"""Who may vote: patrons (the one patron rule), whose first membership payment came before the ballot
opened (by default), above an optional monthly minimum; and the turnout's denominator."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from membership.ballots import services
from membership.ballots.services import Ineligible
from membership.db import db, utcnow
from membership.giving.models import MembershipStatus, PaymentKind, PaymentStatus
from tests.support.ballots import DAY, add_ballot, add_patron, flat, membership_of, option_ids, post_vote, votes
from tests.support.patrons import add_membership, add_payment, add_supporter, sign_in

GRACE = timedelta(days=7)


def _eligibility(**patron: Any) -> services.Eligibility:
    ballot = add_ballot(opens=-DAY)
    supporter = add_patron(**patron)
    return services.check_eligibility(db.session(), ballot, supporter.id, utcnow(), GRACE)


def test_a_patron_who_paid_before_opening_may_vote(app: Flask) -> None:
    assert _eligibility().eligible


def test_a_patron_who_joined_after_the_ballot_opened_may_not(app: Flask) -> None:
    result = _eligibility(paid_at=utcnow() - timedelta(hours=2))
    assert not result.eligible and result.reason is Ineligible.JOINED_AFTER_OPENING
    assert "already supporting us when it opened" in result.message


def test_a_gift_before_opening_does_not_count_as_membership(app: Flask) -> None:
    ballot = add_ballot(opens=-DAY)
    supporter = add_patron(paid_at=utcnow() - timedelta(hours=2))
    add_payment(supporter, 2500, utcnow() - 300 * DAY, kind=PaymentKind.GIFT)
    result = services.check_eligibility(db.session(), ballot, supporter.id, utcnow(), GRACE)
    assert result.reason is Ineligible.JOINED_AFTER_OPENING


def test_a_refunded_first_payment_does_not_count(app: Flask) -> None:
    ballot = add_ballot(opens=-DAY)
    supporter = add_supporter("refunded@example.org")
    membership = add_membership(supporter, started_at=utcnow() - 40 * DAY)
    add_payment(supporter, 500, utcnow() - 40 * DAY, status=PaymentStatus.REFUNDED, refunded_minor=500,
                membership=membership)
    result = services.check_eligibility(db.session(), ballot, supporter.id, utcnow(), GRACE)
    assert result.reason is Ineligible.JOINED_AFTER_OPENING


def test_without_the_paid_before_opening_rule_new_patrons_may_vote(app: Flask) -> None:
    ballot = add_ballot(opens=-DAY, require_paid_before_open=False)
    supporter = add_patron(paid_at=utcnow() - timedelta(hours=2))
    assert services.check_eligibility(db.session(), ballot, supporter.id, utcnow(), GRACE).eligible


@pytest.mark.parametrize(("case", "membership", "eligible"), [
    ("past due 3 days: inside the grace period", {"status": MembershipStatus.PAST_DUE,
                                                  "past_due_since": -3 * DAY}, True),
    ("past due 8 days: outside the grace period", {"status": MembershipStatus.PAST_DUE,
                                                   "past_due_since": -8 * DAY}, False),
    ("cancelled at period end, before the period ends", {"cancel_at_period_end": True,
                                                         "current_period_end": 2 * DAY}, True),
    ("cancelled at period end, after the period ended", {"cancel_at_period_end": True,
                                                        "current_period_end": -timedelta(hours=1)}, False),
    ("canceled", {"status": MembershipStatus.CANCELED, "ended_at": -DAY}, False),
    ("unpaid", {"status": MembershipStatus.UNPAID}, False),
])
def test_membership_states(app: Flask, case: str, membership: dict[str, Any], eligible: bool) -> None:
    now = utcnow()
    values = {k: now + v if isinstance(v, timedelta) else v for k, v in membership.items()}
    result = _eligibility(**values)
    assert result.eligible is eligible, case
    if not eligible:
        assert result.reason is Ineligible.NOT_PATRON


@pytest.mark.parametrize(("amount", "currency", "interval", "eligible"), [
    (500, "EUR", "month", True),  # exactly the minimum
    (499, "EUR", "month", False),
    (6000, "EUR", "year", True),  # 60 a year = 5 a month
    (5988, "EUR", "year", False),  # 4.99 a month
    (20000, "UAH", "month", True),
    (19999, "UAH", "month", False),
    (5000, "USD", "month", False),  # no minimum set in USD: this ballot isn't for it
])
def test_minimum_monthly_amount(app: Flask, amount: int, currency: str, interval: str, eligible: bool) -> None:
    ballot = add_ballot(min_monthly={"EUR": 500, "UAH": 20000})
    supporter = add_patron(amount_minor=amount, currency=currency, interval=interval)
    result = services.check_eligibility(db.session(), ballot, supporter.id, utcnow(), GRACE)
    assert result.eligible is eligible
    if not eligible:
        assert result.reason is Ineligible.BELOW_MINIMUM


def test_ineligible_patrons_are_told_why_and_refused(client: FlaskClient) -> None:
    ballot = add_ballot(opens=-DAY)
    supporter = add_patron(paid_at=utcnow() - timedelta(hours=2))
    sign_in(client, supporter)
    body = flat(client.get(f"/ballots/{ballot.id}"))
    assert "This ballot is for patrons who were already supporting us when it opened." in body
    assert 'name="choice"' not in body
    response = post_vote(client, ballot.id, option_ids(ballot)[:1])
    assert response.status_code == 400 and "already supporting us when it opened" in flat(response)
    assert votes() == []


def test_readers_who_are_not_patrons_get_a_way_to_become_one(client: FlaskClient) -> None:
    ballot = add_ballot()
    reader = add_supporter("reader@example.org")
    add_payment(reader, 1000, utcnow() - 90 * DAY, kind=PaymentKind.GIFT)
    sign_in(client, reader)
    body = flat(client.get(f"/ballots/{ballot.id}"))
    assert "Voting is for patrons: readers with an active monthly or yearly membership." in body
    assert 'href="/give?frequency=monthly">Become a patron</a>' in body
    assert post_vote(client, ballot.id, option_ids(ballot)[:1]).status_code == 400
    assert votes() == []


def test_below_the_minimum_is_told_the_amount(client: FlaskClient) -> None:
    ballot = add_ballot(min_monthly={"EUR": 1000})
    sign_in(client, add_patron(amount_minor=500))
    body = flat(client.get(f"/ballots/{ballot.id}"))
    assert "giving at least €10.00 a month" in body
    assert "at least the minimum monthly amount stated above" in body
    assert 'href="/account/amount">Change your monthly amount</a>' in body


def test_eligible_count_for_turnout(app: Flask) -> None:
    now = utcnow()
    ballot = add_ballot(opens=-10 * DAY, closes=-DAY)
    voter = add_patron("voter@example.org", paid_at=now - 40 * DAY)
    voted_at = ballot.opens_at + DAY
    services.cast_vote(db.session(), ballot.id, voter.id, option_ids(ballot)[:1], voted_at, GRACE)
    db.session.commit()
    add_patron("eligible-non-voter@example.org", paid_at=now - 40 * DAY)
    add_patron("joined-after-opening@example.org", paid_at=now - 5 * DAY)
    add_patron("joined-after-closing@example.org", paid_at=now - timedelta(hours=1))
    # The voter has lapsed since: their vote still counts, and so do they in the denominator.
    membership_of(voter).status = MembershipStatus.CANCELED
    db.session.commit()
    assert services.count_eligible(db.session(), ballot, ballot.closes_at, GRACE) == 2
    open_rules = add_ballot(opens=-10 * DAY, closes=-DAY, require_paid_before_open=False, title="Open to all")
    # Without the rule the patron who joined after opening counts; the one who joined after closing doesn't.
    assert services.count_eligible(db.session(), open_rules, open_rules.closes_at, GRACE) == 2

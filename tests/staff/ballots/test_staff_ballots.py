"""Staff ballots: editors and admins draft, publish and edit ballots under the rules; every change is
audited with ids and field names; staff pages show aggregates only, never who chose what."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from membership.ballots import services as ballot_services
from membership.ballots.models import Ballot, BallotOption, Vote, VotingMethod, Weighting
from membership.db import db, utcnow
from membership.giving.models import Tier
from membership.staff.accounts.models import AuditEntry, Role
from tests.support.ballots import DAY, add_ballot, add_patron, close_ballot, flat, option_ids
from tests.support.helpers import count, csrf_token

GRACE = timedelta(days=7)


def ballot_form(client: FlaskClient, path: str = "/staff/ballots/new", options: list[str] | None = None,
                **fields: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": "What should we investigate next?", "introduction": "Choose our next story.",
        "opens_at": "2030-03-01T09:00", "closes_at": "2030-03-15T18:00", "method": "single", "max_choices": "3",
        "require_paid_before_open": "y", "results_visibility": "after_close", "weighting": "equal",
        "csrf_token": csrf_token(client, path),
    }
    for index, title in enumerate(["Reconstruction money", "Winter energy", "Pensions"] if options is None
                                  else options):
        data[f"options-{index}-title"] = title
        data[f"options-{index}-description"] = f"About {title.lower()}."
    data.update(fields)
    return data


def audit(action: str) -> list[AuditEntry]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


@pytest.mark.parametrize("role", [Role.EDITOR, Role.ADMIN])
def test_editors_and_admins_create_a_draft_ballot(staff_client: Callable[[Role], FlaskClient], role: Role) -> None:
    client = staff_client(role)
    assert client.get("/staff/ballots").status_code == 200
    response = client.post("/staff/ballots/new", data=ballot_form(client, min_monthly="", minimum_EUR="5",
                                                                  results_visibility="live"))
    assert response.status_code == 303, flat(response)
    ballot = db.session.scalars(sa.select(Ballot)).one()
    assert ballot.published_at is None and ballot.method is VotingMethod.SINGLE and ballot.max_choices == 1
    assert ballot.opens_at.isoformat() == "2030-03-01T09:00:00+00:00"
    assert [o.title for o in ballot.options] == ["Reconstruction money", "Winter energy", "Pensions"]
    assert ballot.min_monthly == {"EUR": 500} and ballot.require_paid_before_open
    [entry] = audit("ballot.created")
    assert entry.target_id == str(ballot.id) and entry.details == {"option_ids": option_ids(ballot)}
    page = flat(client.get(f"/staff/ballots/{ballot.id}"))
    assert "Draft" in page and ">Publish</button>" in page
    assert client.get(f"/ballots/{ballot.id}").status_code == 404  # patrons can't see drafts


def test_analysts_may_not_run_ballots(staff_client: Callable[[Role], FlaskClient]) -> None:
    client = staff_client(Role.ANALYST)
    assert client.get("/staff/ballots").status_code == 403
    assert client.post("/staff/ballots/new", data={"title": "x", "csrf_token": csrf_token(client, "/staff/")}
                       ).status_code == 403
    assert count(Ballot) == 0


def test_approval_ballot_with_tier_weights(staff_client: Callable[[Role], FlaskClient]) -> None:
    tier = Tier(slug="champion", name="Champion")
    db.session.add(tier)
    db.session.commit()
    client = staff_client(Role.EDITOR)
    data = {**ballot_form(client, method="approval", max_choices="2", weighting="tier"), f"weight_{tier.id}": "3"}
    assert client.post("/staff/ballots/new", data=data).status_code == 303
    ballot = db.session.scalars(sa.select(Ballot)).one()
    assert (ballot.method, ballot.max_choices, ballot.weighting) == (VotingMethod.APPROVAL, 2, Weighting.TIER)
    assert ballot.tier_weights == {str(tier.id): 3}


# Staff forms: a message next to the field, status 400, nothing saved ---------------------------------------


@pytest.mark.parametrize(("fields", "options", "message"), [
    ({"title": "  "}, None, "Enter the ballot's title."),
    ({"closes_at": "2030-02-01T09:00"}, None, "Closing must come after opening."),
    ({"closes_at": "2030-03-01T09:00"}, None, "Closing must come after opening."),
    ({}, ["Only one topic"], "A ballot needs at least 2 options"),
    ({}, [], "A ballot needs at least 2 options"),
    ({}, [f"Topic {n}" for n in range(21)], "A ballot can have at most 20 options."),
    ({"method": "approval", "max_choices": "5"}, None, "N can't be more than the number of options (3)."),
    ({"method": "approval", "max_choices": "1"}, None, "Choose N between 2 and 20."),
    ({"opens_at": "next tuesday"}, None, "Not a valid datetime value."),
    ({"method": "ranked"}, None, "Not a valid choice."),
    ({"minimum_EUR": "-5"}, None, "Minimum in EUR per month (optional): The amount must be more than zero."),
], ids=["empty title", "closing before opening", "closing at opening", "one option", "no options",
        "21 options", "N above options", "N of 1", "bad time", "unknown method", "negative minimum"])
def test_bad_ballot_forms_are_refused(staff_client: Callable[[Role], FlaskClient], fields: dict[str, str],
                                      options: list[str] | None, message: str) -> None:
    client = staff_client(Role.EDITOR)
    response = client.post("/staff/ballots/new", data=ballot_form(client, options=options, **fields))
    assert response.status_code == 400
    page = flat(response)
    assert message in page and "Nothing was saved." in page
    assert count(Ballot) == 0 and audit("ballot.created") == []


def test_closing_before_opening_is_shown_next_to_the_field(staff_client: Callable[[Role], FlaskClient]) -> None:
    client = staff_client(Role.EDITOR)
    page = flat(client.post("/staff/ballots/new", data=ballot_form(client, closes_at="2030-02-01T09:00")))
    assert ('<p class="field-error" id="closes_at-error"> <span>Closing must come after opening.</span> </p>'
            in page)
    assert 'aria-invalid="true"' in page


def test_a_missing_csrf_token_saves_nothing(staff_client: Callable[[Role], FlaskClient]) -> None:
    client = staff_client(Role.EDITOR)
    data = ballot_form(client)
    del data["csrf_token"]
    response = client.post("/staff/ballots/new", data=data)
    assert response.status_code == 400 and count(Ballot) == 0


# Publishing and editing --------------------------------------------------------------------------------------


def test_publishing_makes_the_ballot_visible(staff_client: Callable[[Role], FlaskClient]) -> None:
    ballot = add_ballot(published=False)
    client = staff_client(Role.EDITOR)
    response = client.post(f"/staff/ballots/{ballot.id}/publish",
                           data={"csrf_token": csrf_token(client, f"/staff/ballots/{ballot.id}")})
    assert response.status_code == 303
    db.session.refresh(ballot)
    assert ballot.published_at is not None
    [entry] = audit("ballot.published")
    assert entry.target_id == str(ballot.id) and entry.details == {}
    assert client.get(f"/ballots/{ballot.id}").status_code == 200
    assert "What should we investigate next?" in flat(client.get("/ballots"))


def _edit_data(client: FlaskClient, ballot: Ballot, **changes: str) -> dict[str, Any]:
    path = f"/staff/ballots/{ballot.id}/edit"
    data = ballot_form(client, path, options=[], opens_at=ballot.opens_at.strftime("%Y-%m-%dT%H:%M"),
                       closes_at=ballot.closes_at.strftime("%Y-%m-%dT%H:%M"), title=ballot.title,
                       introduction=ballot.introduction)
    for index, option in enumerate(ballot.options):
        data[f"options-{index}-id"] = str(option.id)
        data[f"options-{index}-title"] = option.title
        data[f"options-{index}-description"] = option.description
    data.update(changes)
    return data


def test_editing_before_votes_can_change_anything(staff_client: Callable[[Role], FlaskClient]) -> None:
    ballot = add_ballot(4)
    client = staff_client(Role.EDITOR)
    data = _edit_data(client, ballot, method="approval", max_choices="2", **{"options-3-remove": "y",
                                                                              "options-0-title": "Renamed",
                                                                              "options-4-title": "New topic"})
    response = client.post(f"/staff/ballots/{ballot.id}/edit", data=data)
    assert response.status_code == 303, flat(response)
    db.session.expire_all()
    assert [o.title for o in ballot.options] == ["Renamed", "Topic 2", "Topic 3", "New topic"]
    assert ballot.method is VotingMethod.APPROVAL
    [entry] = audit("ballot.updated")
    assert entry.details["fields"] == ["method", "max_choices", "options"]
    assert len(entry.details["removed_option_ids"]) == 1


def _with_a_vote(ballot: Ballot) -> None:
    patron = add_patron()
    ballot_services.cast_vote(db.session(), ballot.id, patron.id, option_ids(ballot)[:1], utcnow(), GRACE)
    db.session.commit()


@pytest.mark.parametrize(("changes", "message"), [
    ({"options-2-remove": "y"}, "Votes have been cast, so options can't be removed."),
    ({"method": "approval", "max_choices": "2"}, "Votes have been cast, so the method can't change."),
    ({"weighting": "tier"}, "Votes have been cast, so the weighting can't change."),
    ({"require_paid_before_open": ""}, "Votes have been cast, so who may vote can't change."),
    ({"minimum_EUR": "10"}, "Votes have been cast, so the minimum amounts can't change."),
], ids=["remove an option", "change the method", "change the weighting", "change who may vote", "add a minimum"])
def test_once_votes_exist_the_rules_hold(staff_client: Callable[[Role], FlaskClient], changes: dict[str, str],
                                         message: str) -> None:
    ballot = add_ballot()
    _with_a_vote(ballot)
    client = staff_client(Role.EDITOR)
    data = {k: v for k, v in _edit_data(client, ballot, title="Changed too", **changes).items() if v != ""}
    response = client.post(f"/staff/ballots/{ballot.id}/edit", data=data)
    assert response.status_code == 400
    assert message in flat(response) and "Nothing was saved." in flat(response)
    db.session.expire_all()
    assert ballot.title == "What should we investigate next?" and len(ballot.options) == 3
    assert ballot.method is VotingMethod.SINGLE and audit("ballot.updated") == []


def test_once_votes_exist_texts_and_closing_time_can_still_change(
        staff_client: Callable[[Role], FlaskClient]) -> None:
    ballot = add_ballot()
    _with_a_vote(ballot)
    client = staff_client(Role.EDITOR)
    later = (ballot.closes_at + DAY).strftime("%Y-%m-%dT%H:%M")
    data = _edit_data(client, ballot, closes_at=later, **{"options-1-title": "Topic 2, corrected",
                                                          "options-3-title": "A late addition"})
    assert client.post(f"/staff/ballots/{ballot.id}/edit", data=data).status_code == 303
    [entry] = audit("ballot.updated")
    assert entry.details == {"fields": ["closes_at", "options"], "removed_option_ids": []}


def test_the_database_refuses_to_delete_an_option_someone_chose(staff_client: Callable[[Role], FlaskClient]) -> None:
    ballot = add_ballot()
    _with_a_vote(ballot)
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(sa.delete(BallotOption).where(BallotOption.id == option_ids(ballot)[0]))
    db.session.rollback()


# Privacy: aggregates only ----------------------------------------------------------------------------------


def test_staff_pages_never_show_who_chose_what(staff_client: Callable[[Role], FlaskClient]) -> None:
    ballot = add_ballot()
    voters = [add_patron(f"secret-voter-{n}@example.org") for n in range(3)]
    for voter, pick in zip(voters, [0, 0, 1], strict=True):
        voter.name = f"Secret Name {voter.id}"
        ballot_services.cast_vote(db.session(), ballot.id, voter.id, [option_ids(ballot)[pick]], utcnow(), GRACE)
    db.session.commit()
    close_ballot(ballot)
    client = staff_client(Role.ADMIN)
    pages = [flat(client.get(path)) for path in ("/staff/ballots", f"/staff/ballots/{ballot.id}",
                                                 f"/staff/ballots/{ballot.id}/edit", "/staff/ballots/suggestions",
                                                 "/staff/audit")]
    detail = pages[1]
    assert "Turnout: 3 of 3 eligible patrons voted (100.0%)." in detail
    assert '<th scope="row">Topic 1</th><td class="num">2</td>' in detail.replace("> <", "><")
    for page in pages:
        for voter in voters:
            assert voter.email is not None and voter.email not in page and f"Secret Name {voter.id}" not in page
            assert f"/staff/supporters/{voter.id}" not in page
    assert count(Vote) == 3


@pytest.mark.parametrize("page", ["", "/edit"])
@pytest.mark.parametrize(("role", "status"), [(Role.EDITOR, 200), (Role.ADMIN, 200), (Role.ANALYST, 403)])
def test_ballot_pages_are_for_editors_and_admins(staff_client: Callable[[Role], FlaskClient], page: str,
                                                 role: Role, status: int) -> None:
    ballot = add_ballot()
    assert staff_client(role).get(f"/staff/ballots/{ballot.id}{page}").status_code == status


def test_unknown_ballots_are_not_found(staff_client: Callable[[Role], FlaskClient]) -> None:
    client = staff_client(Role.EDITOR)
    assert client.get("/staff/ballots/999").status_code == 404
    assert client.get("/staff/ballots/999/edit").status_code == 404


def test_the_supporter_page_counts_ballots_but_never_shows_choices(
        staff_client: Callable[[Role], FlaskClient]) -> None:
    first, second = add_ballot(title="First ballot"), add_ballot(title="Second ballot")
    patron = add_patron("voter@example.org")
    for ballot in (first, second):
        ballot_services.cast_vote(db.session(), ballot.id, patron.id, option_ids(ballot)[1:2], utcnow(), GRACE)
    db.session.commit()
    page = flat(staff_client(Role.ANALYST).get(f"/staff/supporters/{patron.id}"))
    assert "Ballots: took part in 2 (how they voted is never shown)" in page
    assert "Topic 2" not in page and "First ballot" not in page


# The dashboard's turnout and the results export (aggregates only) ------------------------------------------


def _closed_ballot_with_votes() -> Ballot:
    ballot = add_ballot(title="=Formula? What next")
    voters = [add_patron(f"export-voter-{n}@example.org") for n in range(3)]
    add_patron("export-non-voter@example.org")
    for voter, pick in zip(voters, [0, 0, 1], strict=True):
        ballot_services.cast_vote(db.session(), ballot.id, voter.id, [option_ids(ballot)[pick]], utcnow(), GRACE)
    db.session.commit()
    close_ballot(ballot)
    return ballot


def test_the_dashboard_shows_recent_ballot_turnout(staff_client: Callable[[Role], FlaskClient]) -> None:
    ballot = _closed_ballot_with_votes()
    add_ballot(title="Not yet open", opens=DAY, closes=5 * DAY)
    page = flat(staff_client(Role.ANALYST).get("/staff/dashboard"))
    assert "Ballot turnout" in page and "Not yet open" not in page
    assert (f'<th scope="row">{ballot.title}</th> <td>{ballot.closes_at:%Y-%m-%d %H:%M}</td> <td class="num">3</td>'
            '<td class="num">4</td> <td class="num">75.0%</td>') in page
    assert "export-voter-0@example.org" not in page


def _export(client: FlaskClient, ballot: Ballot, fmt: str) -> Any:
    return client.post("/staff/reports/ballot-results", data={
        "results-ballot": str(ballot.id), "results-format": fmt,
        "results-csrf_token": csrf_token(client, "/staff/reports")})


def test_ballot_results_export_as_csv(staff_client: Callable[[Role], FlaskClient]) -> None:
    ballot = _closed_ballot_with_votes()
    client = staff_client(Role.ANALYST)
    assert "Download the results" in flat(client.get("/staff/reports"))
    response = _export(client, ballot, "csv")
    assert response.status_code == 200, flat(response)
    assert response.headers["Content-Disposition"] == f'attachment; filename="ballot-{ballot.id}-results.csv"'
    lines = response.get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert lines[0] == ("Ballot,Topic,Patrons who chose it,Weighted votes,Share (%),Voters,Eligible patrons,"
                        "Turnout (%),Method,Opens (UTC),Closes (UTC)")
    assert lines[1].startswith("'=Formula? What next,Topic 1,2,2,66.7,3,4,75.0,"
                               '"Choose one topic. One patron, one vote.",')
    assert len(lines) == 4 and "export-voter" not in response.get_data(as_text=True)
    [entry] = audit("export.ballot_results")
    assert entry.target_id == str(ballot.id) and entry.details == {"format": "csv", "rows": 3}


def test_ballot_results_export_as_xlsx(staff_client: Callable[[Role], FlaskClient]) -> None:
    from io import BytesIO

    from openpyxl import load_workbook

    ballot = _closed_ballot_with_votes()
    response = _export(staff_client(Role.ADMIN), ballot, "xlsx")
    assert response.status_code == 200
    sheet = load_workbook(BytesIO(response.get_data())).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[1][:8] == ("'=Formula? What next", "Topic 1", 2, 2, 66.7, 3, 4, 75.0)


def test_ballot_results_export_refuses_unknown_ballots_and_editors(
        staff_client: Callable[[Role], FlaskClient]) -> None:
    draft = add_ballot(published=False)
    client = staff_client(Role.ANALYST)
    assert _export(client, draft, "csv").status_code == 400  # drafts aren't offered
    assert staff_client(Role.EDITOR).get("/staff/reports").status_code == 403

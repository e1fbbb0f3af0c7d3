# ruff: noqa: RUF001  (Ukrainian text: Cyrillic letters that look like Latin ones)
"""Ballot pages, votes and their messages in Ukrainian."""

from __future__ import annotations

from flask.testing import FlaskClient

from membership.ballots.models import ResultsVisibility, VotingMethod
from tests.support.ballots import add_ballot, add_patron, flat, option_ids
from tests.support.helpers import csrf_token
from tests.support.patrons import sign_in

UKRAINIAN = {"Accept-Language": "uk"}


def test_the_ballots_page_in_ukrainian(client: FlaskClient) -> None:
    add_ballot()
    page = flat(client.get("/ballots?lang=uk"))
    assert "Голосування: виберіть, про що ми напишемо далі" in page and "Тривають зараз" in page
    assert "завершується" in page and "Запропонувати тему" in page


def test_a_ballot_and_a_vote_in_ukrainian(client: FlaskClient) -> None:
    ballot = add_ballot(min_monthly={"EUR": 300, "UAH": 10000})
    sign_in(client, add_patron())
    page = flat(client.get(f"/ballots/{ballot.id}", headers=UKRAINIAN))
    assert "Хто може голосувати" in page and "Виберіть одну тему" in page
    assert "Виберіть одну тему. Один патрон — один голос." in page  # the method, in words
    assert "щонайменше 3,00 € або 100,00 ₴ на місяць" in page
    first, second, _ = option_ids(ballot)
    token = csrf_token(client, f"/ballots/{ballot.id}")
    refused = client.post(f"/ballots/{ballot.id}/vote", headers=UKRAINIAN,
                          data={"choice": [str(first), str(second)], "csrf_token": token})
    assert refused.status_code == 400 and "Виберіть одну тему. Нічого не збережено." in flat(refused)
    voted = client.post(f"/ballots/{ballot.id}/vote", headers=UKRAINIAN,
                        data={"choice": [str(first)], "csrf_token": token}, follow_redirects=True)
    page = flat(voted)
    assert "Дякуємо, що проголосували." in page and "Ваш голос зараховано</strong>: ви вибрали “Topic 1”." in page


def test_approval_limits_and_live_results_in_ukrainian(client: FlaskClient) -> None:
    ballot = add_ballot(4, method=VotingMethod.APPROVAL, max_choices=2, results_visibility=ResultsVisibility.LIVE)
    sign_in(client, add_patron())
    for _ in range(4):
        add_patron()
    token = csrf_token(client, f"/ballots/{ballot.id}")
    refused = client.post(f"/ballots/{ballot.id}/vote?lang=uk",
                          data={"choice": [str(o) for o in option_ids(ballot)[:3]], "csrf_token": token})
    assert "Виберіть не більше ніж 2 теми. Нічого не збережено." in flat(refused)
    client.post(f"/ballots/{ballot.id}/vote", data={"choice": [str(option_ids(ballot)[0])], "csrf_token": token})
    page = flat(client.get(f"/ballots/{ballot.id}?lang=uk"))
    assert "Схваліть до 2 тем; кожне схвалення зараховується один раз." in page
    assert "Явка: проголосували 1 з 5 патронів з правом голосу (20,0" in page
    assert "Кожен патрон міг схвалити кілька тем, тому сума часток перевищує 100%." in page

"""Bad input never gets a 500: every route in `app.url_map`, every method, signed out, as a patron and as a staff
admin, with NUL bytes, integers too large for the database and dates out of range in the path, the query string
and the form fields (run it on PostgreSQL too: that is where an out-of-range integer blows up)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule
from werkzeug.test import TestResponse

from membership.ballots.models import TopicSuggestion
from membership.db import db
from membership.giving.models import Tier
from membership.staff.accounts import services as staff_services
from membership.staff.accounts.models import Role, StaffUser
from membership.supporters.models import Supporter
from stripe_double import DoubleServer
from tests.support.ballots import add_ballot
from tests.support.patrons import become_patron
from tests.support.servers import LiveServer

NUL = "a\x00b"
HUGE = "99999999999999999999"  # more than any integer the database (or SQLite's 64 bits) holds
PAST_INT4 = str(2**31)  # one more than PostgreSQL's `integer`
# The bad values each kind of field gets, one field at a time (NUL bytes go in every field at once).
BAD_VALUES = {
    "date": ("9999-12-31", "0001-01-01", HUGE),
    "datetime-local": ("9999-12-31T23:59", "0001-01-01T00:00", HUGE),
    "text": (HUGE, PAST_INT4),
}
# Query parameters views read without a form on the page to show them (cursors appear in links only past a page).
QUERY_NAMES = {"session_id": "text", "ref": "text", "before": "text", "after": "text", "from": "date", "to": "date"}
# Parameters some view may read: each bad value goes in all of them at once.
OTHER_QUERY_NAMES = ("next", "q", "currency", "amount", "frequency", "source", "utm_source", "utm_campaign", "rank",
                     "date_from", "date_to", "page", "id")
# Path values that name real rows (ids 1) for the deep walk.
GOOD_PATH = {"currency": "EUR"}
ARGUMENT = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


@dataclass
class Form:
    method: str
    action: str
    fields: dict[str, str] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)  # each field's input type: date, datetime-local or text


class Harvester(HTMLParser):
    """The forms on a page with the values a browser would send unchanged, and the query names its links use."""

    def __init__(self, page_path: str) -> None:
        super().__init__()
        self.page_path = page_path
        self.forms: list[Form] = []
        self.link_names: set[str] = set()
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and "?" in a.get("href", ""):
            self.link_names.update(name for name, _ in parse_qsl(urlsplit(a["href"]).query, keep_blank_values=True))
        elif tag == "form":
            self.forms.append(Form(a.get("method", "get").upper(), urlsplit(a.get("action") or self.page_path).path))
        elif tag == "option" and self._select and self.forms:
            if "selected" in a or not self.forms[-1].fields[self._select]:
                self.forms[-1].fields[self._select] = a.get("value", "")
        elif not self.forms or not a.get("name"):
            return
        elif tag == "input":
            self._input(self.forms[-1].fields, a)
            kind = a.get("type", "text")
            self.forms[-1].kinds[a["name"]] = kind if kind in BAD_VALUES else "text"
        elif tag == "select":
            self._select = a["name"]
            self.forms[-1].fields.setdefault(a["name"], "")
        elif tag == "textarea":
            self._textarea = a["name"]
            self.forms[-1].fields[a["name"]] = ""

    @staticmethod
    def _input(fields: dict[str, str], a: dict[str, str]) -> None:
        kind = a.get("type", "text")
        if kind in ("submit", "button", "image") or (kind == "checkbox" and "checked" not in a):
            return
        if kind == "radio" and "checked" not in a:
            fields.setdefault(a["name"], a.get("value", ""))
        else:
            fields[a["name"]] = a.get("value", "on" if kind == "checkbox" else "")

    def handle_data(self, data: str) -> None:
        if self._textarea and self.forms:
            self.forms[-1].fields[self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


@dataclass
class Visitor:
    """A test client, signed in again after every POST (the walk signs out, resets passwords…)."""

    name: str
    client: FlaskClient
    staff_id: int | None = None
    supporter_id: int | None = None
    failures: list[str] = field(default_factory=list)
    forms: dict[str, Form] = field(default_factory=dict)

    def sign_in_again(self) -> None:
        db.session.rollback()
        with self.client.session_transaction() as session:
            if self.staff_id is not None:
                staff = db.session.get(StaffUser, self.staff_id)
                assert staff is not None
                staff.must_change_password = False
                db.session.commit()
                session["staff"] = {"id": staff.id, "epoch": staff.session_epoch, "at": int(time.time())}
            if self.supporter_id is not None:
                supporter = db.session.get(Supporter, self.supporter_id)
                assert supporter is not None
                session.permanent = True
                session.update(supporter_id=supporter.id, supporter_signed_in_at=int(time.time()),
                               supporter_session_epoch=supporter.session_epoch)

    def send(self, method: str, url: str, data: dict[str, str] | None = None, what: str = "") -> TestResponse:
        response = self.client.open(url, method=method, data=data)
        if response.status_code >= 500:
            self.failures.append(f"{method} {url!r} {what} -> {response.status_code}")
        if method != "GET":
            self.sign_in_again()
        return response


def _path(rule: Rule, int_value: str, text_value: str) -> str:
    def value(match: re.Match[str]) -> str:
        converter, name = match.group(1) or "default", match.group(2)
        if converter == "int":
            return int_value
        return GOOD_PATH.get(name, "x") if text_value == "good" else text_value

    return ARGUMENT.sub(value, rule.rule)


def _bad_paths(rule: Rule) -> list[str]:
    if not rule.arguments:
        return [rule.rule.rstrip("/") + "/%00"]
    return [_path(rule, value, "x") for value in (HUGE, PAST_INT4)] + [_path(rule, "1", "a%00b")]


def _methods(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})


def _walk_pages(visitor: Visitor, rules: list[Rule]) -> None:
    for rule in rules:
        for method in _methods(rule):
            for path in _bad_paths(rule):
                visitor.send(method, path, {"csrf_token": NUL} if method == "POST" else None)
            if method == "GET":
                _walk_query(visitor, _path(rule, "1", "good"))


def _walk_query(visitor: Visitor, path: str) -> None:
    """The page, then each query parameter it may read with bad values; its POST forms are kept for later."""
    response = visitor.send("GET", path)
    if 300 <= response.status_code < 400:
        return
    kinds = dict(QUERY_NAMES)
    if response.status_code == 200 and response.mimetype == "text/html":
        harvester = Harvester(path)
        harvester.feed(response.get_data(as_text=True))
        kinds.update(dict.fromkeys(harvester.link_names, "text"))
        for form in harvester.forms:
            if form.method == "GET":
                kinds.update(form.kinds)
            else:
                visitor.forms.setdefault(form.action, form)
    visitor.send("GET", f"{path}?{urlencode(dict.fromkeys([*kinds, *OTHER_QUERY_NAMES], NUL))}")
    visitor.send("GET", f"{path}?{urlencode({NUL: '1'})}")
    for value in BAD_VALUES["text"]:
        visitor.send("GET", f"{path}?{urlencode(dict.fromkeys(OTHER_QUERY_NAMES, value))}")
    for name, kind in sorted(kinds.items()):
        for value in BAD_VALUES[kind]:
            visitor.send("GET", f"{path}?{urlencode({name: value})}")


def _walk_forms(visitor: Visitor, rules: list[Rule]) -> None:
    """Every POST route with the form a page offers for it (or just a CSRF token), one bad field at a time."""
    token = next((f.fields["csrf_token"] for f in visitor.forms.values() if "csrf_token" in f.fields), "")
    for rule in rules:
        if "POST" not in _methods(rule):
            continue
        path = _path(rule, "1", "good")
        form = visitor.forms.get(path, Form("POST", path))
        fields = {"csrf_token": token} | form.fields
        visitor.send("POST", path, dict.fromkeys(fields, NUL) | {"csrf_token": fields["csrf_token"]}, "all NUL")
        visitor.send("POST", path, fields | {"name": NUL, "email": NUL, "message": NUL}, "name/email/message NUL")
        for name in sorted(set(fields) - {"csrf_token"}):
            for value in BAD_VALUES[form.kinds.get(name, "text")]:
                visitor.send("POST", path, fields | {name: value}, f"{name}={value}")


@pytest.fixture
def rows(app: Flask, double: DoubleServer, live_app: LiveServer) -> dict[str, int]:
    """A row of each kind with id 1: a patron with a membership paid at the double, a tier, a ballot, a topic
    suggestion and an admin."""
    membership = become_patron(app.test_client(), double)
    db.session.add(Tier(slug="coffee", name="Cup of coffee"))
    db.session.commit()
    ballot = add_ballot()
    db.session.add(TopicSuggestion(supporter_id=membership.supporter_id, text="Rivers"))
    admin, _ = staff_services.create_staff(db.session(), "admin@newsroom.example", Role.ADMIN, name="Admin",
                                           password="correct horse battery staple")
    db.session.commit()
    assert (membership.supporter_id, ballot.id, admin.id) == (1, 1, 1), "the walk's good paths use id 1"
    return {"patron": membership.supporter_id, "admin": admin.id}


def _harvest_forms(visitor: Visitor, rules: list[Rule]) -> None:
    """The POST forms every page offers (its plain GET), so a shard walks each form with the fields a browser
    would send, whichever shard its page falls in."""
    for rule in rules:
        if "GET" not in _methods(rule):
            continue
        path = _path(rule, "1", "good")
        response = visitor.client.get(path)
        if response.status_code == 200 and response.mimetype == "text/html":
            harvester = Harvester(path)
            harvester.feed(response.get_data(as_text=True))
            for form in harvester.forms:
                if form.method != "GET":
                    visitor.forms.setdefault(form.action, form)


# The routes are walked in shards, so parallel workers share the walk (each shard starts from fresh rows).
SHARDS = 4


@pytest.mark.parametrize("shard", range(SHARDS))
@pytest.mark.parametrize("who", ["anonymous", "patron", "admin"])
def test_no_route_answers_bad_input_with_a_server_error(app: Flask, rows: dict[str, int], who: str,
                                                        shard: int) -> None:
    visitor = Visitor(who, app.test_client(), staff_id=rows["admin"] if who == "admin" else None,
                      supporter_id=rows["patron"] if who == "patron" else None)
    visitor.sign_in_again()
    rules = sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))
    _harvest_forms(visitor, rules)
    mine = rules[shard::SHARDS]
    assert mine, "every shard walks some routes"
    _walk_pages(visitor, mine)
    _walk_forms(visitor, mine)
    assert not visitor.failures, f"{len(visitor.failures)} server errors:\n" + "\n".join(visitor.failures[:80])

"""The newsroom's logo and accent colour: checked at start-up (contrast included), shown on every public page, the
embedded appeal, staff pages and emails, and allowed by the Content-Security-Policy; nothing changes when unset."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from membership.branding import brand_stylesheet, contrast_ratio, darker_shade, light_tint, logo_origin
from membership.config import ConfigError, check_settings, load_settings
from membership.db import db
from membership.email import OutboundEmail, queue_email
from membership.staff.accounts.models import Role
from tests.support.helpers import SAMPLE

LOGO = "https://cdn.news.example/brand/logo.svg"
ACCENT = "#8a1538"  # a dark red: 9.35:1 with white


def settings(**env: str) -> dict[str, Any]:
    return load_settings(env, instance_path="/tmp/membership-instance")


# The contrast computation ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("first", "second", "ratio"), [
    ("#ffffff", "#000000", 21.0),
    ("#000000", "#ffffff", 21.0),
    ("#777777", "#ffffff", 4.48),
    ("#767676", "#ffffff", 4.54),  # the lightest grey WebAIM finds AA on white
    ("#123456", "#123456", 1.0),
])
def test_contrast_ratio_follows_wcag(first: str, second: str, ratio: float) -> None:
    assert contrast_ratio(first, second) == pytest.approx(ratio, abs=0.01)


def test_the_hover_shade_of_the_default_accent_is_the_one_site_css_has() -> None:
    assert darker_shade("#0b5394") == "#073763"
    assert contrast_ratio("#ffffff", darker_shade(ACCENT)) > contrast_ratio("#ffffff", ACCENT)


def test_contrast_refuses_what_is_not_a_colour() -> None:
    with pytest.raises(ValueError, match="#rrggbb"):
        contrast_ratio("blue", "#ffffff")


# Start-up checks ------------------------------------------------------------------------------------------------


def test_by_default_there_is_no_logo_and_the_accent_is_todays() -> None:
    config = settings()
    check_settings(config)
    assert config["NEWSROOM_LOGO_URL"] == ""
    assert config["NEWSROOM_ACCENT_COLOR"] == "#0b5394"
    assert brand_stylesheet(config) == ":root { --accent: #0b5394; --accent-dark: #073763; --accent-tint: #ebf1f6; }\n"


def test_a_good_brand_starts() -> None:
    check_settings(settings(NEWSROOM_LOGO_URL=LOGO, NEWSROOM_ACCENT_COLOR="#8A1538"))
    check_settings(settings(NEWSROOM_LOGO_URL="/static/favicon.svg"))


@pytest.mark.parametrize("colour", ["blue", "#abc", "0b5394", "#0b5394ff", "#gg0000"])
def test_an_accent_that_is_not_a_hex_colour_is_refused(colour: str) -> None:
    with pytest.raises(ConfigError, match=r"NEWSROOM_ACCENT_COLOR must be a colour written #rrggbb"):
        check_settings(settings(NEWSROOM_ACCENT_COLOR=colour))


def test_an_accent_too_light_for_white_button_text_is_refused_with_the_ratio() -> None:
    # #777777 is 4.48:1 with white: just short of AA.
    with pytest.raises(ConfigError, match=r"#777777 is too light: white button text on it has a contrast of "
                                          r"4\.48:1, and readable text needs at least 4\.5:1"):
        check_settings(settings(NEWSROOM_ACCENT_COLOR="#777777"))


def test_an_accent_readable_on_white_but_not_on_the_page_background_is_refused() -> None:
    # #757575 is 4.61:1 with white but 4.49:1 on the paper (#fdfcf9).
    assert contrast_ratio("#757575", "#ffffff") >= 4.5
    with pytest.raises(ConfigError, match=r"links on the page background #fdfcf9 has a contrast of 4\.4\d:1"):
        check_settings(settings(NEWSROOM_ACCENT_COLOR="#757575"))


@pytest.mark.parametrize("url", ["http://news.example/logo.png", "logo.png", "javascript:alert(1)",
                                 "https://", "https://news.example/a logo.png", "//news.example/logo.png",
                                 "/static/../config.py", "/uploads/logo.png", "https://u:p@news.example/l.png",
                                 "https://news.example:port/l.png"])
def test_a_logo_that_is_not_https_or_our_static_files_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="NEWSROOM_LOGO_URL must be an https:// address"):
        check_settings(settings(NEWSROOM_LOGO_URL=url))


def test_a_logo_among_our_static_files_must_be_there() -> None:
    with pytest.raises(ConfigError, match=r"NEWSROOM_LOGO_URL is /static/logo\.png, but there is no file "
                                          r".*static/logo\.png"):
        check_settings(settings(NEWSROOM_LOGO_URL="/static/logo.png"))


def test_the_logo_origin_is_the_scheme_host_and_port_only() -> None:
    assert logo_origin("https://cdn.news.example:8443/brand/logo.svg?v=2") == "https://cdn.news.example:8443"
    assert logo_origin("/static/logo.svg") == ""


# Pages ----------------------------------------------------------------------------------------------------------


@pytest.fixture
def branded(app: Flask) -> Flask:
    app.config.update(NEWSROOM_LOGO_URL=LOGO, NEWSROOM_ACCENT_COLOR=ACCENT)
    return app


def _page(client: FlaskClient, path: str) -> tuple[str, str]:
    response = client.get(path)
    assert response.status_code == 200, path
    return response.get_data(as_text=True), response.headers["Content-Security-Policy"]


@pytest.mark.parametrize("path", ["/", "/give", "/appeal", "/staff/"])
def test_pages_show_the_logo_and_take_the_accent(branded: Flask, client: FlaskClient,
                                                 staff_client: Any, path: str) -> None:
    if path.startswith("/staff"):
        client = staff_client(Role.ADMIN)
    html, policy = _page(client, path)
    stylesheet = client.get("/brand.css")
    assert 'href="/brand.css?v=' in html
    assert stylesheet.mimetype == "text/css"
    assert "--accent: #8a1538; --accent-dark: #5c0e25; --accent-tint: #f6ecef;" in stylesheet.get_data(as_text=True)
    assert "img-src 'self' data: https://cdn.news.example;" in policy
    assert "style-src 'self';" in policy  # no inline style was needed
    if path != "/appeal":  # the framed appeal has no header
        assert f'<img class="brand-logo" src="{LOGO}" alt="Kyiv Independent Test" height="40">' in html
        assert '<a class="brand" href="/">' in html


@pytest.mark.parametrize("path", ["/", "/give", "/appeal", "/staff/"])
def test_unset_pages_look_as_before(app: Flask, client: FlaskClient, staff_client: Any, path: str) -> None:
    if path.startswith("/staff"):
        client = staff_client(Role.ADMIN)
    html, policy = _page(client, path)
    assert "brand.css" not in html and "brand-logo" not in html
    assert "img-src 'self' data:;" in policy
    if path != "/appeal":
        assert '<a class="brand" href="/">Kyiv Independent Test</a>' in html


def test_a_logo_among_our_static_files_needs_no_other_origin(app: Flask, client: FlaskClient) -> None:
    app.config["NEWSROOM_LOGO_URL"] = "/static/favicon.svg"
    html, policy = _page(client, "/")
    assert 'src="/static/favicon.svg" alt="Kyiv Independent Test"' in html
    assert "img-src 'self' data:;" in policy


def test_the_brand_stylesheet_is_kept_a_year_at_an_address_that_changes_with_the_accent(
        branded: Flask, client: FlaskClient) -> None:
    first = client.get("/").get_data(as_text=True)
    response = client.get("/brand.css?v=x")
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "Set-Cookie" not in response.headers
    branded.config["NEWSROOM_ACCENT_COLOR"] = "#1e6b2f"
    second = client.get("/").get_data(as_text=True)
    version = first.split("/brand.css?v=")[1].split('"')[0]
    assert version and f"/brand.css?v={version}" not in second and "/brand.css?v=" in second


# Emails ---------------------------------------------------------------------------------------------------------


def _thank_you() -> OutboundEmail:
    queue_email(db.session(), "thank_you", "reader@example.org", sign_in_url="http://x.test/sign-in", **SAMPLE)
    db.session.commit()
    return db.session.scalars(sa.select(OutboundEmail)).one()


def test_the_thank_you_email_has_the_logo_and_the_accent(branded: Flask) -> None:
    email = _thank_you()
    assert f'<img src="{LOGO}" alt="Kyiv Independent Test"' in email.body_html
    assert "background:#8a1538;" in email.body_html
    assert "Kyiv Independent Test" in email.body_text


def test_a_static_logo_in_an_email_is_an_absolute_address(app: Flask) -> None:
    app.config["NEWSROOM_LOGO_URL"] = "/static/favicon.svg"
    assert '<img src="http://127.0.0.1:' in _thank_you().body_html


def test_an_unbranded_email_shows_the_name_and_todays_blue(app: Flask) -> None:
    email = _thank_you()
    assert "<img" not in email.body_html
    assert '<p style="font-weight:700;font-size:18px;margin:0 0 16px;">Kyiv Independent Test</p>' in email.body_html
    assert "background:#0b5394;" in email.body_html


@pytest.mark.parametrize("accent", ["#0b5394", "#8a1538", "#006400", "#595959", "#000000"])
def test_the_tint_behind_notices_and_the_chosen_tile_keeps_text_on_it_readable(accent: str) -> None:
    tint = light_tint(accent)
    assert contrast_ratio("#1a1a1a", tint) >= 7  # body text on a notice
    assert contrast_ratio(darker_shade(accent), tint) >= 7  # the "most chosen" badge's text
    assert tint != "#ffffff"  # still a visible tint

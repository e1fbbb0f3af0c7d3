"""The newsroom's look: its logo (NEWSROOM_LOGO_URL) and accent colour (NEWSROOM_ACCENT_COLOR).

The accent fills buttons (white text on it) and colours links (on the page's paper and on white panels), so an
accent too light to read in either place is refused at start-up, measured as WCAG 2.x asks. Pages take the
colour from `/brand.css` (a stylesheet of our own, so the Content-Security-Policy stays `style-src 'self'`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from membership.config import DEFAULT_ACCENT_COLOR, ConfigError

PAPER = "#fdfcf9"  # the page background (site.css --paper)
WHITE = "#ffffff"
# WCAG 2.x level AA for normal-size text: buttons' labels and links are both normal text.
MINIMUM_CONTRAST = 4.5
# The hover shade keeps two thirds of each channel: the default accent's own hover colour, #073763, comes out so.
HOVER_SHADE = 2 / 3
# The light tint behind notices, the chosen amount tile and the "most chosen" badge: the accent over white at 8 %,
# light enough that body text and the hover shade on it keep 10:1 or more (site.css keeps #eef4fb for the default).
TINT = 0.08
HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
STATIC = Path(__file__).parent / "static"


def _channels(colour: str) -> tuple[int, int, int]:
    if not HEX_COLOUR.fullmatch(colour):
        raise ValueError(f"{colour!r} is not a #rrggbb colour")
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def relative_luminance(colour: str) -> float:
    """WCAG 2.x relative luminance of a #rrggbb colour: 0 for black, 1 for white."""

    def linear(channel: int) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(channel) for channel in _channels(colour))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2.x contrast ratio of two #rrggbb colours, from 1 (the same) to 21 (black and white)."""
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def darker_shade(colour: str) -> str:
    """The hover colour of an accent: the same hue, darker (so its contrast with white text only grows)."""
    return "#" + "".join(f"{round(channel * HOVER_SHADE):02x}" for channel in _channels(colour))


def light_tint(colour: str) -> str:
    """The accent mixed into white at TINT: a background for text, as light as white for contrast's sake."""
    return "#" + "".join(f"{round(255 - (255 - channel) * TINT):02x}" for channel in _channels(colour))


def accent_color(config: Mapping[str, Any]) -> str:
    return str(config.get("NEWSROOM_ACCENT_COLOR") or DEFAULT_ACCENT_COLOR).lower()


def check_branding(config: Mapping[str, Any]) -> None:
    """Refuse an accent that isn't a #rrggbb colour or is too light to read, and a logo we can't show safely."""
    accent = str(config.get("NEWSROOM_ACCENT_COLOR") or DEFAULT_ACCENT_COLOR)
    if not HEX_COLOUR.fullmatch(accent):
        raise ConfigError(f"NEWSROOM_ACCENT_COLOR must be a colour written #rrggbb, like {DEFAULT_ACCENT_COLOR} "
                          f"(got {accent!r}).")
    for text, background, where in ((WHITE, accent, "white button text on it"),
                                    (accent, PAPER, f"links on the page background {PAPER}"),
                                    (accent, WHITE, "links on white")):
        ratio = contrast_ratio(text, background)
        if ratio < MINIMUM_CONTRAST:
            raise ConfigError(f"NEWSROOM_ACCENT_COLOR {accent} is too light: {where} has a contrast of "
                              f"{ratio:.2f}:1, and readable text needs at least {MINIMUM_CONTRAST}:1 (WCAG AA). "
                              "Choose a darker colour.")
    logo = str(config.get("NEWSROOM_LOGO_URL") or "")
    if logo and not (logo_origin(logo) or (logo.startswith("/static/") and ".." not in logo)):
        raise ConfigError("NEWSROOM_LOGO_URL must be an https:// address (https://news.example/logo.png) or a "
                          f"path under this app's /static/ (/static/logo.png); got {logo!r}.")
    static_file = STATIC / urlsplit(logo).path.removeprefix("/static/")
    if logo.startswith("/static/") and not static_file.is_file():
        raise ConfigError(f"NEWSROOM_LOGO_URL is {logo}, but there is no file {static_file}: put the logo there or "
                          "give its https:// address.")


def logo_origin(url: str) -> str:
    """The https origin a logo is loaded from, which the Content-Security-Policy must allow; "" for our own."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.password:
        return ""
    if any(character in url for character in " \"'<>;,\\"):
        return ""
    try:
        parts.port  # noqa: B018 - a port that isn't a number raises here
    except ValueError:
        return ""
    return f"https://{parts.netloc}"


def logo_url(config: Mapping[str, Any], absolute: bool = False) -> str:
    """NEWSROOM_LOGO_URL ("" when unset); `absolute` for an email, where a /static path needs PUBLIC_URL."""
    logo = str(config.get("NEWSROOM_LOGO_URL") or "")
    if absolute and logo.startswith("/"):
        return str(config["PUBLIC_URL"]).rstrip("/") + logo
    return logo


def brand_stylesheet(config: Mapping[str, Any]) -> str:
    """The CSS that gives site.css the newsroom's accent and its hover shade."""
    accent = accent_color(config)
    return (f":root {{ --accent: {accent}; --accent-dark: {darker_shade(accent)}; "
            f"--accent-tint: {light_tint(accent)}; }}\n")


def brand_version(config: Mapping[str, Any]) -> str:
    """A short digest of the brand stylesheet, for its address: a new accent is a new address, so the stylesheet
    can be kept by browsers for a year."""
    return hashlib.sha256(brand_stylesheet(config).encode()).hexdigest()[:12]

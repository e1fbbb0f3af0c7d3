"""Forms every staff section uses."""

from __future__ import annotations

from flask_wtf import FlaskForm


class ConfirmForm(FlaskForm):
    """A POST with nothing but its CSRF token: a confirmed button."""

"""Patron pages under /account: sign-in by emailed link, the account, self-service."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("patrons", __name__, url_prefix="/account")

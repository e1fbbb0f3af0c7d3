"""Ballot tests use the staff fixtures too (staff ballots, the review queue)."""

from tests.staff.conftest import make_staff, staff_client

__all__ = ["make_staff", "staff_client"]

"""Every model module, imported once so the metadata (Alembic, tests) knows all tables."""

from membership import email, ratelimit
from membership.giving import models as giving
from membership.patrons import models as patrons
from membership.staff import models as staff
from membership.supporters import models as supporters

__all__ = ["email", "giving", "patrons", "ratelimit", "staff", "supporters"]

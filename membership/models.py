"""Every model module, imported once so the metadata (Alembic, tests) knows all tables."""

from membership import email, installation, ratelimit, webhooks_out
from membership.ballots import models as ballots
from membership.giving import campaigns
from membership.giving import models as giving
from membership.patrons import models as patrons
from membership.staff.accounts import models as staff_accounts
from membership.staff.reports import models as reports
from membership.supporters import models as supporters
from membership.supporters import tokens

__all__ = [
    "ballots", "campaigns", "email", "giving", "installation", "patrons", "ratelimit", "reports", "staff_accounts",
    "supporters", "tokens", "webhooks_out",
]

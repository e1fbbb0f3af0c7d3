"""Every model module, imported once so the metadata (Alembic, tests) knows all tables."""

from membership import email, installation, ratelimit, webhooks_out
from membership.ballots import models as ballots
from membership.giving import campaigns, month_changes
from membership.giving import models as giving
from membership.patrons import models as patrons
from membership.staff.accounts import models as staff_accounts
from membership.staff.dashboard import models as dashboard
from membership.staff.reports import models as reports
from membership.supporters import models as supporters
from membership.supporters import tokens

__all__ = [
    "ballots", "campaigns", "dashboard", "email", "giving", "installation", "month_changes", "patrons", "ratelimit",
    "reports", "staff_accounts", "supporters", "tokens", "webhooks_out",
]

"""Staff accounts: sign-in, two-factor sign-in, recovery codes, staff users and the audit log."""

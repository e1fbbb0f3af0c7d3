"""Patrons: readers with a recurring membership; sign-in by emailed link, the account page, self-service."""

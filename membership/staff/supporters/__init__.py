"""Supporters (staff): the searchable list, each supporter's record, and the admin actions sent through Stripe."""

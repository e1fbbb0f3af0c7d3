"""Supporters: the people who give, identified by their normalised email address."""

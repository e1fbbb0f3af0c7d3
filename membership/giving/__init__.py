"""Giving: the support page, the give form, Stripe Checkout, memberships, payments and webhooks."""

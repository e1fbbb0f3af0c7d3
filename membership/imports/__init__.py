"""Imports, for newsrooms that already have supporters: adopt a Stripe account's customers, subscriptions and
payment history (`flask --app membership import stripe`), or bring supporters and their consent from a Patreon
members export or a generic CSV (`flask --app membership import csv`)."""

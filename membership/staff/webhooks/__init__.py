"""Webhooks out (admins): the newsroom's tools registered at /staff/webhooks, and their deliveries."""

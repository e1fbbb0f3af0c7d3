"""Campaigns with a goal (editors and admins): /staff/campaigns."""

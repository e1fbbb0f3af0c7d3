"""Tiers and amounts (admin): tiers, one-click preset amounts, and the minimum and maximum per currency."""

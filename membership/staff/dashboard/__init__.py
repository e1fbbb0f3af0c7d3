"""The staff dashboard: patrons, churn, one-time revenue and sources for a date range, with SVG charts."""

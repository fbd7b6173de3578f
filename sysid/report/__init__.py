"""Reporting: the discovery result and result.json, scoring against a truth, figures."""

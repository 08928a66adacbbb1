"""Reporting: shared metrics, plots and baselines."""

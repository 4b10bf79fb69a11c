"""Analyses for inspectors and leaders: scores and rankings, choropleths, hot spots and the
dashboard, aggregated in SQL by the store."""

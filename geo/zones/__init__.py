"""Responsibility zones (责任区): saves with versions, split, merge and restore (editing), the
assignment of issues and lines to zones (assignment), coverage gaps (gaps) and the figures of
zones and communities kept per layer version (figures)."""

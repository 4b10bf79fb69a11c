"""The vocabulary every package speaks: layer kinds and reference tables, the stored records
(features, issues), the issue lifecycle table, users/units/roles, audit diffs, timestamps and the
domain errors. Imports nothing else of geo."""

"""The issue ledger (问题台账): the write path of issues (writes), ledger files mapped to issues
(mapping) and streamed in chunks (streamed_import), recurrence and duplicates, Open311 mapping
and uploaded photos."""

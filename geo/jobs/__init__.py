"""Jobs: heavy work in a bounded pool of threads with its state in the store (runner), and the
work of an upload job: a layer file or an issue ledger read, checked and stored (uploads)."""

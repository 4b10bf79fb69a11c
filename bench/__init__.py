"""Benchmarks that print figures (see README "City-scale benchmark dataset")."""

import os

# a benchmark measures one thing at a time: no server it starts, in process or as `ccmap serve`,
# rebuilds tiles in the background beside the requests it times (CCMAP_TILE_RESEED_SECONDS;
# bench_reseed runs a pass on purpose)
os.environ.setdefault("CCMAP_TILE_RESEED_SECONDS", "0")

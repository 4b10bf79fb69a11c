"""Tile and grid math below the store: Web Mercator tiles, the properties each layer carries in
a tile, our Mapbox Vector Tile writer (tiles), and the issue grid cells written with each issue
(cells)."""

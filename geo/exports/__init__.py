"""What leaves ccmap: data exports (GeoPackage, CSV/xlsx tables), offline map snapshots and
their static rendering, weekly bulletins and printable route sheets."""

"""Layers and their files: opening user files with allow-listed drivers (userfiles), reading
them into validated features (reading), OpenStreetMap import (osm), CRS and metric work
(projection), GCJ-02/BD-09 offsets (coords) and GeoJSON output (geojson)."""

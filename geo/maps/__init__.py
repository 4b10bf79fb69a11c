"""The map page: the Folium shell (mapview), basemap sources (basemaps), the disk cache of
encoded vector tiles shared by the server processes (tilecache) and its seeding (seeding)."""

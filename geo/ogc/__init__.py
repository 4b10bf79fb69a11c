"""OGC API – Features (Part 1 Core + GeoJSON, Part 2 CRS by reference): the documents and
feature pages of ccmap's layers, zones and issues, built from the store's queries."""

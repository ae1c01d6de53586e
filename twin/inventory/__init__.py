"""The inventory of structures (issue 16): importing inventory files (CSV, GeoJSON,
GeoPackage) into the catalog, and the status derived from what the catalog holds."""

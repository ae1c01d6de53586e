"""Pipeline specs, the stage registry, the cached runner, provenance and batches."""

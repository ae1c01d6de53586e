"""Pydantic models of the domain and the core PointCloud container."""

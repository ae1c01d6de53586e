"""twin: laser scans of heritage buildings to annotated 3D digital twins."""

__version__ = "0.1.0"

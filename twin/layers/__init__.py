"""Layer files: reading and validating a structure's layers (elements, phases, materials,
metadata) from YAML. Storage of revisions lives in :mod:`twin.catalog.layers`, projection
onto models in :mod:`twin.ops.labelling`.
"""

from twin.layers.load import load_layers, parse_layers

__all__ = ["load_layers", "parse_layers"]

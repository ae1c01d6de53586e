"""Exports: pure writers from model pieces (meshes, clouds, layers, labels, CRS, provenance) to files.

One module per output; none of them reads the catalog (the caller gathers the pieces):

- :mod:`twin.export.gltf` — GLB per level of detail, float32 local vertices about a float64
  origin (the root node's translation), EXT_mesh_features (element per vertex) and
  EXT_structural_metadata (a property table of elements);
- :mod:`twin.export.labelled` — PLY and LAS/LAZ with per-point ``element``/``phase``/``material``
  and the legend (JSON, CSV) that says what each value means;
- :mod:`twin.export.jsonld` — the structure, its layers and processing history as JSON-LD in
  CIDOC-CRM, CRMba and CRMdig;
- :mod:`twin.export.geojson` — element and structure footprints in the structure's CRS and in
  WGS 84;
- :mod:`twin.export.ifc` — IFC 4.3 of one mesh level: an IFC element per layer element with
  its faces, phases and materials, georeferenced by an IfcMapConversion;
- :mod:`twin.export.bagit_package` — BagIt 1.0 bags with SHA-512 manifests, and their check.

:mod:`twin.export.package` is the one that gathers: it finds a survey's latest model and the
structure's current layers in the catalog and runs the writers above (``twin export``).

Every writer writes atomically (a temporary file or folder, renamed at the end).
"""

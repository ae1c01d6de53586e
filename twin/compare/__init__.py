"""Epoch-to-epoch comparison: M3C2 with level of detection, cloud-to-cloud and
cloud-to-mesh distances, robust alignment on stable parts, per-label statistics.

Pure functions over numpy arrays (coordinates in one frame, metres):

- ``twin.compare.m3c2.m3c2(epoch1_xyz, epoch2_xyz, core_xyz, M3C2Params(...)) -> M3C2Result``
  (the function is not re-exported here: ``twin.compare.m3c2`` stays the module)
- ``cloud_to_cloud(compared, reference, ...) -> C2CResult``,
  ``cloud_to_mesh(xyz, vertices, triangles, ...) -> C2MResult``
- ``align_epochs(reference, moving, ...) -> AlignResult`` (its ``residual`` feeds
  ``M3C2Params.registration_error``)
- ``label_statistics(labels, distance, significant, core_xyz, lod)`` and
  ``m3c2_label_statistics(result, labels)`` -> ``list[LabelStats]``
- ``subsample(xyz, spacing)``, ``subsample_indices``, ``read_core_points(path)``

End to end (reading files and the catalog, writing results), behind ``twin compare``:

- :mod:`twin.compare.run` — ``compare_files`` and ``compare_surveys`` (alignment, method,
  labels, per-element statistics, output folder, catalog record);
- :mod:`twin.compare.options` (checked settings), :mod:`twin.compare.inputs` (clouds,
  meshes, core points, stable parts), :mod:`twin.compare.methods` (m3c2/c2c/c2m behind one
  per-core-point result), :mod:`twin.compare.element_stats`, :mod:`twin.compare.output`;
- :mod:`twin.compare.layer_classes` and :mod:`twin.compare.meshstats` — a survey's parts
  by phase, material or element (surface, points, volume, dates) and two layer revisions.
"""

from twin.compare.align import AlignResult, align_epochs
from twin.compare.corepoints import read_core_points, subsample, subsample_indices
from twin.compare.distances import C2CResult, C2MResult, cloud_to_cloud, cloud_to_mesh
from twin.compare.m3c2 import M3C2Params, M3C2Result, level_of_detection, orient_normals
from twin.compare.stats import LabelStats, label_statistics, m3c2_label_statistics

__all__ = [
    "AlignResult",
    "C2CResult",
    "C2MResult",
    "LabelStats",
    "M3C2Params",
    "M3C2Result",
    "align_epochs",
    "cloud_to_cloud",
    "cloud_to_mesh",
    "label_statistics",
    "level_of_detection",
    "m3c2_label_statistics",
    "orient_normals",
    "read_core_points",
    "subsample",
    "subsample_indices",
]

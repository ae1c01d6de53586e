"""Registration of the stations of one survey into the frame of a reference station.

Each station arrives as a PointCloud in its own local frame (a scanner frame, or a
georeferenced one). The result is one 4x4 transform per station that maps the station's
*local* coordinates to the reference station's local coordinates, the figures of every
link and station, and a survey quality report (twin.ops.registration.quality).

The story, one module a step:

0. **Scale** (``settings``): every length is a multiple of a working unit measured on
   the stations (extent and point spacing), so a statue and a site need no edits.
1. **Stations** (``station``): centred copies at every scale, normals oriented to the
   scanners (given, or found from the scan order), the vertical from the ground.
2. **Coarse** (``coarse``, skipped when initial poses are given): per pair, levelled
   plan-view search or 6-DoF feature RANSAC, candidates settled by ICP and judged by
   overlap and visibility conflicts; a spanning tree of the best links. Then groups of
   stations are judged again as one cloud against the rest (``assembly``): a group
   placed right among itself but turned against the others is moved as one.
3. **Fine** (``fine``, ``joint``): multiway point-to-plane ICP of each station against
   all the others on the wide stages, then all stations together in one system on the
   narrow ones (a group off the rest moves as one), then every overlapping pair refined
   into a link.
4. **Pose graph** (``graph``): all links optimised together, kept when it fits the
   data better than the joint stages' poses (a truncated least-squares cost over every
   station's fine points, ``quality.misfit``); then a generalized-ICP polish of each
   station against the others (``fine.polish``), kept on the same condition.
5. **Quality** (``quality``) and **diagnostics** (``diagnostics``): the surveyor's
   figures, and a message naming every link tried when a station cannot be placed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from twin.errors import ProcessingError, UsageError
from twin.models.pointcloud import PointCloud
from twin.ops.registration import diagnostics
from twin.ops.registration.assembly import regroup
from twin.ops.registration.coarse import coarse_poses
from twin.ops.registration.fine import multiway_refine, polish, refine_links
from twin.ops.registration.graph import optimise
from twin.ops.registration.joint import joint_refine
from twin.ops.registration.quality import measure, misfit, survey_quality
from twin.ops.registration.results import (
    EdgeMetrics,
    RegistrationResult,
    StationPose,
    apply_transform,
    check_transform,
    initial_poses_from_origins,
    merge_registered,
    rotation_angle_deg,
    translation,
)
from twin.ops.registration.settings import RegistrationSettings, measure_scale, resolve
from twin.ops.registration.station import make_station

MISFIT_TIE = 1e-4  # an alternative set of poses must lower the survey's misfit by more than this share:
# the exact split station's alternatives differ by 2e-5 (micrometres, the fine level's voxel
# centroids against the raw points); on generated gates at 30k points a station, generalized
# ICP's 14.2 mm beat the joint stages' 15.7 mm by 1.6e-4 and the graph's 70 mm their 227 mm by 7.7e-3

__all__ = [
    "EdgeMetrics",
    "RegistrationResult",
    "RegistrationSettings",
    "StationPose",
    "apply_transform",
    "initial_poses_from_origins",
    "merge_registered",
    "register_stations",
    "rotation_angle_deg",
]


def register_stations(
    clouds: Sequence[PointCloud],
    *,
    names: Sequence[str] | None = None,
    reference: int = 0,
    initial_poses: Sequence[np.ndarray] | None = None,
    scanner_positions: Sequence[np.ndarray | None] | None = None,
    settings: RegistrationSettings | None = None,
) -> RegistrationResult:
    """Align every station to ``clouds[reference]``; see the package docstring.

    ``initial_poses`` (local → reference local, e.g. from E57 poses or
    :func:`initial_poses_from_origins`) skip the coarse search. ``scanner_positions``
    (each in its station's local frame) orient normals; where one is not given,
    twin.ops.viewpoint.scanner_position finds it (the frame's zero when the points
    surround it, else from the scan order).
    """
    settings = settings or RegistrationSettings()
    n = len(clouds)
    if n == 0:
        raise UsageError("registration needs at least one station")
    names = list(names) if names is not None else [f"station {i}" for i in range(n)]
    if len(names) != n:
        raise UsageError(f"{len(names)} names for {n} stations")
    if not 0 <= reference < n:
        raise UsageError(f"reference station {reference} does not exist ({n} stations)")
    if initial_poses is not None and len(initial_poses) != n:
        raise UsageError(f"{len(initial_poses)} initial poses for {n} stations")
    if scanner_positions is not None and len(scanner_positions) != n:
        raise UsageError(f"{len(scanner_positions)} scanner positions for {n} stations")
    for name, cloud in zip(names, clouds, strict=True):
        if len(cloud) < 100:
            raise ProcessingError(f"{name}: only {len(cloud)} points, too few to register; check the scan")

    stations = [make_station(names[i], cloud, None if scanner_positions is None else scanner_positions[i])
                for i, cloud in enumerate(clouds)]
    scale = measure_scale([s.spacing for s in stations], [s.extent for s in stations])
    settings = resolve(settings, scale)
    lengths = {**settings.lengths(), "spacing": scale.spacing, "extent": scale.extent}

    if n == 1:
        scanner = None if stations[0].scanner is None else stations[0].scanner + stations[0].centre
        return RegistrationResult(reference, [StationPose(0, names[0], np.eye(4), 1.0, 0.0, 0, scanner)],
                                  lengths=lengths)

    # Poses map centred station coordinates to centred reference coordinates.
    c_ref = stations[reference].centre
    searches = []
    if initial_poses is not None:
        poses = []
        for i, t in enumerate(initial_poses):
            t = check_transform(t, f"initial pose of {names[i]}")
            poses.append(translation(-c_ref) @ t @ translation(stations[i].centre))
        method = "initial"
    else:
        found, searches = coarse_poses(stations, reference, settings)
        for i, pose in enumerate(found):
            if pose is None:
                raise ProcessingError(diagnostics.unplaced(names[i], i, searches, names, settings, names[reference]))
        poses = found
        poses = regroup(stations, poses, reference, settings, searches)
        method = "search"

    single, joint, gicp = settings.fine_stages()
    poses = multiway_refine(stations, poses, reference, settings, single)
    poses = joint_refine(stations, poses, reference, settings, joint)
    if gicp:
        poses = multiway_refine(stations, poses, reference, settings, gicp)
    links = refine_links(stations, poses, settings)
    graph_poses = optimise(poses, links, reference, settings)
    # Pairwise links can slide along axes their overlap leaves free, and the graph then
    # follows them; generalized ICP can end nearer a careful ICP's optimum where sparse
    # rings give poor normals (the real outdoor pair) but slides generated buildings along
    # their façades. Either is kept only when it fits the data better, by more than a tie.
    cost = misfit(stations, poses, settings)
    graph_cost = misfit(stations, graph_poses, settings)
    if graph_cost < cost * (1.0 - MISFIT_TIE):
        poses, cost = graph_poses, graph_cost
    polished = polish(stations, poses, reference, settings)
    if misfit(stations, polished, settings) < cost * (1.0 - MISFIT_TIE):
        poses = polished

    def local(i: int, pose: np.ndarray) -> np.ndarray:
        return translation(c_ref) @ pose @ translation(-stations[i].centre)

    fits = []
    for i, st in enumerate(stations):
        others = [j for j in range(n) if j != i]
        fit = measure(st, poses[i], [stations[j] for j in others], [poses[j] for j in others], settings)
        # The reference defines the frame: a misfit is blamed on the station that moved.
        problem = None if i == reference else diagnostics.misfit_after(st.name, fit.fitness, fit.inlier_rmse, settings)
        if problem:
            raise ProcessingError(problem)
        fits.append(fit)

    edges = []
    for k in links:
        fit = measure(stations[k.source], poses[k.source], [stations[k.target]], [poses[k.target]], settings)
        rel = np.linalg.inv(poses[k.target]) @ poses[k.source]
        t_local = translation(stations[k.target].centre) @ rel @ translation(-stations[k.source].centre)
        edges.append(EdgeMetrics(k.source, k.target, t_local, fit.fitness, fit.inlier_rmse, fit.correspondences,
                                 method, True))
    results = []
    for i, st in enumerate(stations):
        scanner = None if st.scanner is None else st.scanner + st.centre
        results.append(StationPose(i, st.name, local(i, poses[i]), fits[i].fitness, fits[i].inlier_rmse,
                                   fits[i].correspondences, scanner))
    quality = survey_quality(stations, poses, links, reference, settings, fits, searches)
    return RegistrationResult(reference, results, edges, quality, lengths)

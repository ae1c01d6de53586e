"""The pose graph: every accepted link, optimised together.

Nodes are the stations' poses (centred station → centred reference); edges are the
pairwise ICP links with their information matrices. Links outside the spanning tree
close loops; open3d's Levenberg-Marquardt with line-process pruning drops loop
closures that disagree with the rest instead of spreading their error.
"""

from __future__ import annotations

import numpy as np

from twin.ops.registration.coarse import spanning_poses
from twin.ops.registration.fine import Link
from twin.ops.registration.settings import RegistrationSettings


def link_tree(n: int, reference: int, links: list[Link]) -> tuple[list[np.ndarray | None], set[tuple[int, int]]]:
    """Poses composed along a maximum spanning tree of the links (by overlap), and its edges."""
    return spanning_poses(n, reference, {(k.source, k.target): (k.transform, k.overlap) for k in links})


def optimise(poses: list[np.ndarray], links: list[Link], reference: int,
             settings: RegistrationSettings) -> list[np.ndarray]:
    from twin._deps import open3d  # noqa: PLC0415

    o3d = open3d()
    reg = o3d.pipelines.registration
    _, tree = link_tree(len(poses), reference, links)
    graph = reg.PoseGraph()
    for pose in poses:
        graph.nodes.append(reg.PoseGraphNode(pose))
    for k in links:
        # open3d's edge (s, t, T) states pose_t^-1 @ pose_s = T, i.e. T maps s into t.
        uncertain = (k.source, k.target) not in tree
        graph.edges.append(reg.PoseGraphEdge(k.source, k.target, k.transform, k.information, uncertain=uncertain))
    option = reg.GlobalOptimizationOption(
        max_correspondence_distance=settings.finest_distance,
        edge_prune_threshold=0.25,
        preference_loop_closure=1.0,
        reference_node=reference,
    )
    with o3d.utility.VerbosityContextManager(o3d.utility.VerbosityLevel.Error):
        reg.global_optimization(graph, reg.GlobalOptimizationLevenbergMarquardt(),
                                reg.GlobalOptimizationConvergenceCriteria(), option)
    optimised = [np.asarray(node.pose).copy() for node in graph.nodes]
    ref_inv = np.linalg.inv(optimised[reference])  # keep the reference exactly fixed
    return [ref_inv @ p for p in optimised]

"""The default pipeline as a plain open3d script: what a Python user would write for the same job.

    python bench/open3d_pipeline.py SURVEY_FOLDER OUT_FOLDER [--scanner NAME=X,Y,Z ...]

Reads every ``*.laz`` of one survey (laspy with lazrs, as open3d reads no LAZ), and runs
the steps of ``pipelines/default.yaml`` with its parameters, each with the open3d call
made for it:

1. statistical outliers per station: ``remove_statistical_outlier(20, 2.0)``;
2. registration to the first station: each station downsampled once at 8, 4, 2 and
   1 cm with normals, FPFH at 8 cm (radius 5 x voxel) and
   ``registration_ransac_based_on_feature_matching`` for every pair, then point-to-plane
   ICP at 4, 2 and 1 cm (correspondences within 3 x voxel), and a pose graph over all
   pairs with ``global_optimization`` (open3d's multiway tutorial);
3. per station, in the reference frame: ``voxel_down_sample(0.01)``, ``estimate_normals``
   (5 cm, 30 neighbours) and ``orient_normals_towards_camera_location`` (its scanner);
   the stations merged and ``voxel_down_sample(0.01)`` once more where they overlap;
4. ``create_from_point_cloud_poisson(depth=11)``, vertices below the 2 % density quantile removed;
5. repair: degenerate, duplicated and non-manifold elements, islands under 100 faces;
6. ``simplify_quadric_decimation`` to 1M, 200k and 50k faces, each from the one before;
7. the cleaned cloud as LAZ (laspy) and each mesh level as binary PLY.

Scanner positions: a station in its own frame has the scanner at (0, 0, 0); pass
``--scanner NAME=X,Y,Z`` (file coordinates) for a georeferenced station. twin finds that
position itself; the script is given it.

Prints one JSON object: seconds per step, point and face counts, and each station's
4x4 transform from its file coordinates to the reference station's.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from twin._deps import open3d  # noqa: E402  (libusb before open3d, as twin does)

o3d = open3d()
reg = o3d.pipelines.registration

NEIGHBOURS, STD_RATIO = 20, 2.0
COARSE_VOXEL, ICP_VOXELS = 0.08, (0.04, 0.02, 0.01)
VOXEL, NORMAL_RADIUS, NORMAL_NEIGHBOURS = 0.01, 0.05, 30
DEPTH, DENSITY_QUANTILE = 11, 0.02
MIN_ISLAND_FACES = 100
LEVELS = {"1M": 1_000_000, "200k": 200_000, "50k": 50_000}


def read_laz(path: Path) -> tuple[o3d.geometry.PointCloud, np.ndarray]:
    """The points, shifted by the file's offset so that they keep their precision."""
    import laspy

    las = laspy.read(str(path))
    offset = np.asarray(las.header.offsets, dtype=np.float64)
    xyz = np.column_stack((las.x, las.y, las.z)) - offset
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(xyz))
    return pcd, offset


def prepare(pcd) -> dict:
    """Each station downsampled once per scale, with normals, and its FPFH features."""
    levels = {}
    for voxel in (COARSE_VOXEL, *ICP_VOXELS):
        down = pcd.voxel_down_sample(voxel)
        down.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=2 * voxel, max_nn=30))
        levels[voxel] = down
    fpfh = reg.compute_fpfh_feature(levels[COARSE_VOXEL],
                                    o3d.geometry.KDTreeSearchParamHybrid(radius=5 * COARSE_VOXEL, max_nn=100))
    return {"levels": levels, "fpfh": fpfh}


def pairwise(source: dict, target: dict):
    """FPFH + RANSAC, then point-to-plane ICP from coarse to fine; the transform and its information matrix."""
    distance = 1.5 * COARSE_VOXEL
    coarse = reg.registration_ransac_based_on_feature_matching(
        source["levels"][COARSE_VOXEL], target["levels"][COARSE_VOXEL], source["fpfh"], target["fpfh"], True,
        distance, reg.TransformationEstimationPointToPoint(False), 3,
        [reg.CorrespondenceCheckerBasedOnEdgeLength(0.9), reg.CorrespondenceCheckerBasedOnDistance(distance)],
        reg.RANSACConvergenceCriteria(100_000, 0.999))
    transform = coarse.transformation
    for voxel in ICP_VOXELS:
        result = reg.registration_icp(source["levels"][voxel], target["levels"][voxel], 3 * voxel, transform,
                                      reg.TransformationEstimationPointToPlane(),
                                      reg.ICPConvergenceCriteria(max_iteration=30))
        transform = result.transformation
    fine = ICP_VOXELS[-1]
    information = reg.get_information_matrix_from_point_clouds(source["levels"][fine], target["levels"][fine],
                                                               3 * fine, transform)
    return transform, information


def register(clouds: list) -> list[np.ndarray]:
    """open3d's multiway registration: every pair, a pose graph, global optimisation."""
    prepared = [prepare(c) for c in clouds]
    graph = reg.PoseGraph()
    odometry = np.eye(4)
    graph.nodes.append(reg.PoseGraphNode(odometry))
    n = len(clouds)
    for s in range(n):
        for t in range(s + 1, n):
            transform, information = pairwise(prepared[s], prepared[t])
            if t == s + 1:
                odometry = transform @ odometry
                graph.nodes.append(reg.PoseGraphNode(np.linalg.inv(odometry)))
                graph.edges.append(reg.PoseGraphEdge(s, t, transform, information, uncertain=False))
            else:
                graph.edges.append(reg.PoseGraphEdge(s, t, transform, information, uncertain=True))
    option = reg.GlobalOptimizationOption(max_correspondence_distance=3 * ICP_VOXELS[-1],
                                          edge_prune_threshold=0.25, reference_node=0)
    reg.global_optimization(graph, reg.GlobalOptimizationLevenbergMarquardt(),
                            reg.GlobalOptimizationConvergenceCriteria(), option)
    return [np.asarray(node.pose) for node in graph.nodes]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("survey", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--scanner", action="append", default=[], help="NAME=X,Y,Z in the station's file coordinates")
    args = parser.parse_args()
    scanners = {k: np.array([float(v) for v in xyz.split(",")]) for k, xyz in (s.split("=") for s in args.scanner)}
    args.out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}

    def step(name: str, started: float) -> float:
        now = time.perf_counter()
        seconds[name] = round(now - started, 3)
        print(f"{name}: {seconds[name]:.1f} s", file=sys.stderr, flush=True)
        return now

    t = time.perf_counter()
    files = sorted(args.survey.glob("*.laz"))
    read = [read_laz(f) for f in files]
    clouds, offsets = [c for c, _ in read], [o for _, o in read]
    points_in = sum(len(c.points) for c in clouds)
    t = step("read", t)
    clouds = [c.remove_statistical_outlier(NEIGHBOURS, STD_RATIO)[0] for c in clouds]
    t = step("outliers", t)
    poses = register(clouds)
    t = step("register", t)
    merged = o3d.geometry.PointCloud()
    for f, cloud, pose in zip(files, clouds, poses):
        down = cloud.voxel_down_sample(VOXEL)
        down.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=NORMAL_RADIUS, max_nn=NORMAL_NEIGHBOURS))
        down.orient_normals_towards_camera_location(scanners.get(f.stem, np.zeros(3)) - offsets[files.index(f)])
        merged += down.transform(pose)
    merged = merged.voxel_down_sample(VOXEL)
    merged.normalize_normals()
    t = step("voxel+normals", t)
    mesh, density = o3d.geometry.TriangleMesh.create_from_point_cloud_poisson(merged, depth=DEPTH)
    density = np.asarray(density)
    mesh.remove_vertices_by_mask(density < np.quantile(density, DENSITY_QUANTILE))
    t = step("mesh", t)
    mesh.remove_degenerate_triangles()
    mesh.remove_duplicated_triangles()
    mesh.remove_duplicated_vertices()
    mesh.remove_non_manifold_edges()
    clusters, sizes, _ = mesh.cluster_connected_triangles()
    mesh.remove_triangles_by_mask(np.asarray(sizes)[np.asarray(clusters)] < MIN_ISLAND_FACES)
    mesh.remove_unreferenced_vertices()
    t = step("repair", t)
    levels = {"full": mesh}
    current = mesh
    for name, target in LEVELS.items():
        if len(current.triangles) > target:
            current = current.simplify_quadric_decimation(target)
            levels[name] = current
    t = step("decimate", t)
    write_laz(merged, offsets[0], args.out / "cloud.laz")
    for name, level in levels.items():
        level.translate(offsets[0])
        o3d.io.write_triangle_mesh(str(args.out / f"mesh-{name}.ply"), level, write_ascii=False)
    step("write", t)
    transforms = {}
    for f, pose, offset in zip(files, poses, offsets):  # file coordinates → the reference's file coordinates
        shift_in, shift_out = np.eye(4), np.eye(4)
        shift_in[:3, 3], shift_out[:3, 3] = -offset, offsets[0]
        transforms[f.stem] = (shift_out @ pose @ shift_in).tolist()
    print(json.dumps({"seconds": seconds, "total": round(sum(seconds.values()), 3), "points_in": points_in,
                      "points_out": len(merged.points), "faces": {k: len(v.triangles) for k, v in levels.items()},
                      "transforms": transforms}))


def write_laz(pcd, offset: np.ndarray, path: Path) -> None:
    import laspy

    header = laspy.LasHeader(point_format=0, version="1.2")
    header.offsets, header.scales = offset, [0.001] * 3
    las = laspy.LasData(header)
    xyz = np.asarray(pcd.points) + offset
    las.x, las.y, las.z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    las.write(str(path))


if __name__ == "__main__":
    main()

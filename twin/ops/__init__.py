"""Pure geometry stages: ``(cloud, params) -> cloud`` or a result object.

No I/O and no catalog here. Each module does one job:

- :mod:`twin.ops.flags`        flag bits set by cleaning stages, and ``drop_flagged``
- :mod:`twin.ops.crop`         boxes and polygon footprints; mask, flag or drop
- :mod:`twin.ops.outliers`     statistical and radius outlier flagging
- :mod:`twin.ops.voxel`        voxel downsampling (numpy, open3d's voxel set)
- :mod:`twin.ops.normals`      normal estimation and orientation toward the scanner
- :mod:`twin.ops.registration` multi-station registration (FPFH+RANSAC, ICP, pose graph)
- :mod:`twin.ops.meshing`      screened Poisson and ball pivoting, trimming
- :mod:`twin.ops.mesh_repair`  degenerate/duplicate faces, non-manifold edges, small islands
- :mod:`twin.ops.decimate`     quadric decimation into named levels of detail
- :mod:`twin.ops.coverage`     coverage of a footprint's walls and roof, occlusion holes, suggested stations

Modules are imported explicitly (``from twin.ops.voxel import voxel_downsample``) so
that importing twin stays cheap; open3d is imported only inside the functions that use it.
"""

"""Pictures a conservator can read: orthographic elevations, the plan and sections of a
cloud or a mesh, at a stated scale, with a scale bar, a north arrow and a legend.

- :mod:`twin.render.views` — the views (front/back/left/right/plan, sections at a height or
  by a plane with a thickness);
- :mod:`twin.render.raster` — vectorised z-buffers for points (packed depth+index keys and
  ``np.minimum.at``, image-space splats) and triangles (barycentric fragments);
- :mod:`twin.render.colours` — colourings (rgb, categories with a palette, a scalar on a
  diverging map) and their legends;
- :mod:`twin.render.annotate` — title, scale bar, north arrow and legend (Pillow);
- :mod:`twin.render.draw` — ``render_points`` and ``render_mesh`` -> :class:`Picture`
  (``save(path)`` writes PNG, ``png_bytes()`` for embedding);
- :mod:`twin.render.graph` — a registration's station graph in plan view, links coloured
  by their error on a stated scale (``station_graph``).

Pure functions over arrays: no catalog, no files except ``Picture.save``.
"""

from twin.render.colours import RGB, Categories, Scalar, Uniform
from twin.render.draw import Picture, render_mesh, render_points, vertex_to_face
from twin.render.views import ELEVATIONS, View, elevation, section_at_height, section_plane

__all__ = [
    "ELEVATIONS",
    "RGB",
    "Categories",
    "Picture",
    "Scalar",
    "Uniform",
    "View",
    "elevation",
    "render_mesh",
    "render_points",
    "section_at_height",
    "section_plane",
    "vertex_to_face",
]

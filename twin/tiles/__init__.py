"""The tile store: a survey's points spread over a grid of tiles on disk, so that no step
holds the whole survey in memory (DESIGN.md, "Survey scale").

One pass buckets streamed chunks into the tiles (:meth:`TileStore.bucket`, then
:meth:`TileStore.finish`); after that each tile is read on its own, with a halo of its
neighbours' points as wide as the widest neighbourhood a step uses
(:meth:`TileStore.read`). A point belongs to exactly one tile; the halo only informs.
Work runs per tile, in this process or on a Dask cluster (:mod:`twin.tiles.tasks`), and
``twin.ops`` never sees a tile: its functions get one tile's arrays plus the halo.
"""

from twin.tiles.layout import TileLayout
from twin.tiles.store import TileRecord, TileStore

__all__ = ["TileLayout", "TileRecord", "TileStore"]

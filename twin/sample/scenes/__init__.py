"""Generated survey scenes for testing registration on surveys unlike the pavilion.

``generate_scene(kind, seed, ...)`` builds one of ``SCENE_KINDS`` (gate, hall, tower,
courtyard: buildings; statue: a small object scanned close-range) and scans it from
seeded stations; ``truth_relative`` gives what a registration must recover;
``overlap`` measures how much two stations share; ``write_scene`` writes one LAZ per
station and ``truth.json``.
"""

from twin.sample.scenes.survey import (
    SCENE_KINDS,
    GeneratedScene,
    GeneratedStation,
    generate_scene,
    overlap,
    truth_relative,
)
from twin.sample.scenes.write import write_scene

__all__ = [
    "SCENE_KINDS",
    "GeneratedScene",
    "GeneratedStation",
    "generate_scene",
    "overlap",
    "truth_relative",
    "write_scene",
]

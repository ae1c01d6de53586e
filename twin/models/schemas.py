"""JSON Schemas generated from the pydantic models, kept in schemas/.

Regenerate with ``python -m twin.models.schemas``; a test fails when they drift.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from twin.models.layers import LayerFile
from twin.models.pipeline import PipelineSpec
from twin.models.scan import ScanInfo

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
MODELS = {"layers.schema.json": LayerFile, "pipeline.schema.json": PipelineSpec, "scan-info.schema.json": ScanInfo}


def render(model) -> str:
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main() -> None:
    SCHEMA_DIR.mkdir(exist_ok=True)
    for name, model in MODELS.items():
        (SCHEMA_DIR / name).write_text(render(model), encoding="utf-8")
        print(f"wrote {SCHEMA_DIR / name}", file=sys.stderr)


if __name__ == "__main__":
    main()

"""The report's 3D view: a small mesh level of the survey shown, coloured by element, phase,
material or change, drawn by three.js inside the page.

Nothing is fetched when the page is viewed. three.js is copied into the page when the report
is written, from ``tools/node_modules/three`` of the twin checkout (``npm ci --prefix
tools``) or the folder ``$TWIN_THREE`` names; without it the report is still written, with
one line saying that the 3D view is missing and why.

The mesh travels as compact binary, not JSON of floats: vertices quantised to 16 bits per
axis over the mesh's box (0.4 mm on a 26 m pavilion), triangles as 16- or 32-bit indices,
per face the element, phase and material (16-bit indices into the layers, 65535 for none)
and the M3C2 change of the nearest core point (16 bits of 0.1 mm, -32768 for none) with
its significance, all in one gzip stream in base64, unpacked in the browser by
``DecompressionStream``. Labels are the model's own where it was labelled with the layers
the report shows, else the faces are labelled here like the elevations' (by the cloud points
that support each face).

Which level: the smallest with at least :data:`MIN_FACES` faces (the default pipeline's
``50k``); where every level is smaller, the largest; where that one has more than
:data:`MAX_FACES`, it is decimated here to :data:`DECIMATE_TO`.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import BaseModel

MIN_FACES = 10_000
MAX_FACES = 150_000
DECIMATE_TO = 60_000
NONE_ID = 65535  # no element / phase / material
NO_CHANGE = -32768  # no core point near the face
CHANGE_UNIT = 1e-4  # metres per step of the stored change (0.1 mm)
THREE_ENV = "TWIN_THREE"
CHANGE_REACH = 2.5  # a face takes the change of its nearest core point within this many core spacings


# -- three.js ---------------------------------------------------------------------------------


@dataclass
class ThreeJs:
    """three.js, ready to inline: the core and the module (their import between them replaced
    by a placeholder the page fills in) and OrbitControls."""

    version: str
    folder: Path
    core: str
    module: str
    orbit: str


def three_folder() -> Path:
    """Where three.js is looked for: ``$TWIN_THREE``, else ``tools/node_modules/three`` of the checkout."""
    env = os.environ.get(THREE_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "tools" / "node_modules" / "three"


def find_three() -> tuple[ThreeJs | None, str | None]:
    """three.js from :func:`three_folder`, or None and why it is missing."""
    folder = three_folder()
    how = (f"set {THREE_ENV} to a three.js package folder" if os.environ.get(THREE_ENV)
           else "run `npm ci --prefix tools` in the twin checkout (needs Node.js and npm)")
    if not (folder / "package.json").is_file():
        return None, f"three.js is not installed (no {folder / 'package.json'}); {how}"
    build = folder / "build"
    core = next((build / n for n in ("three.core.min.js", "three.core.js") if (build / n).is_file()), None)
    module = next((build / n for n in ("three.module.min.js", "three.module.js") if (build / n).is_file()), None)
    orbit = folder / "examples" / "jsm" / "controls" / "OrbitControls.js"
    if core is None or module is None or not orbit.is_file():
        return None, (f"the three.js in {folder} lacks build/three.core.js, build/three.module.js or "
                      f"examples/jsm/controls/OrbitControls.js (three.js r167 or later is needed); {how}")
    try:
        version = json.loads((folder / "package.json").read_text(encoding="utf-8")).get("version", "?")
        module_text = module.read_text(encoding="utf-8")
        core_import = re.compile(r"""(["'])\./%s\1""" % re.escape(core.name))
        if not core_import.search(module_text):
            return None, f"{module} does not import ./{core.name}: an unexpected three.js build; {how}"
        module_text = core_import.sub('"twin:three-core"', module_text)
        orbit_text = re.sub(r"""from\s*(["'])three\1""", 'from "twin:three"', orbit.read_text(encoding="utf-8"))
        return ThreeJs(version, folder, core.read_text(encoding="utf-8"), module_text, orbit_text), None
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"cannot read three.js in {folder}: {exc}"


# -- the mesh ---------------------------------------------------------------------------------


@dataclass
class ViewerMesh:
    level: str
    path: Path
    vertices: np.ndarray  # (n, 3) float64, world
    faces: np.ndarray  # (m, 3) int
    element: np.ndarray  # (m,) int32, -1 = none
    phase: np.ndarray
    material: np.ndarray
    labels_from: str  # where the labels come from, in words
    file_faces: int = 0  # faces of the level's file (more where it was decimated here)
    notes: list[str] = field(default_factory=list)


def ply_face_count(path: Path) -> int:
    """The face count a PLY header declares (0 when it declares none)."""
    with open(path, "rb") as fh:
        for _ in range(200):
            line = fh.readline()
            if not line:
                break
            text = line.decode("ascii", "replace").strip()
            if text.startswith("element face"):
                return int(text.split()[2])
            if text == "end_header":
                break
    return 0


def choose_level(model) -> tuple[str, Path, int] | None:
    """The mesh level the view shows (see the module docstring); None without a mesh."""
    levels = sorted(((ply_face_count(p), name, p) for name, p in model.meshes.items()), key=lambda t: (t[0], t[1]))
    levels = [t for t in levels if t[0] > 0]
    if not levels:
        return None
    big_enough = [t for t in levels if t[0] >= MIN_FACES]
    faces, name, path = big_enough[0] if big_enough else levels[-1]
    return name, path, faces


def _read_labelled_ply(path: Path):
    """The mesh (twin.models.mesh.TriMesh) and its per-face labels where the file has them."""
    import trimesh  # noqa: PLC0415

    from twin.io.ply_write import read_mesh_ply_origin  # noqa: PLC0415
    from twin.models.mesh import TriMesh  # noqa: PLC0415

    loaded = trimesh.load(str(path), process=False, force="mesh")
    mesh = TriMesh(np.asarray(loaded.vertices, dtype=np.float64), np.asarray(loaded.faces),
                   read_mesh_ply_origin(path))
    labels = None
    raw = (loaded.metadata or {}).get("_ply_raw", {}).get("face", {}).get("data")
    if raw is not None and all(k in (raw.dtype.names or ()) for k in ("element", "phase", "material")):
        labels = {k: np.asarray(raw[k], dtype=np.int32).reshape(-1) for k in ("element", "phase", "material")}
        if any(len(v) != mesh.n_faces for v in labels.values()):
            labels = None
    return mesh, labels


def viewer_mesh(model, revision) -> ViewerMesh | None:
    """The mesh the view shows with its labels for the layers ``revision`` (a
    twin.models.layers.LayerRevision, or None); None where the model has no mesh."""
    chosen = choose_level(model)
    if chosen is None:
        return None
    level, path, file_faces = chosen
    mesh, labels = _read_labelled_ply(path)
    notes = []
    if mesh.n_faces > MAX_FACES:
        from twin.ops.decimate import decimate  # noqa: PLC0415

        notes.append(f"mesh level {level} ({mesh.n_faces:,} faces) decimated to {DECIMATE_TO:,} faces for the view")
        mesh, labels = decimate(mesh, DECIMATE_TO), None
    n = mesh.n_faces
    none = np.full(n, -1, dtype=np.int32)
    if revision is None:
        element, phase, material, source = none, none.copy(), none.copy(), "no layers"
    else:
        recorded = (model.provenance.get("labels") or {}).get("layers_sha256")
        if labels is not None and recorded == revision.sha256:
            element, phase, material = labels["element"], labels["phase"], labels["material"]
            source = f"labels of {path.name}, made with layers revision {revision.rev}"
        else:
            from twin.ops.labelling import compile_layers, label_faces  # noqa: PLC0415

            compiled = compile_layers(revision.layers)
            cloud = None
            if model.cloud is not None:
                from twin.compare.inputs import read_cloud  # noqa: PLC0415

                cloud = read_cloud(model.cloud)
            element = label_faces(compiled, mesh, cloud=cloud)
            phase, material = compiled.phase_of(element), compiled.material_of(element)
            source = (f"labelled for this report with layers revision {revision.rev} "
                      + ("by the cloud points that support each face" if cloud is not None else "by face centroids"))
    return ViewerMesh(level=level, path=path, vertices=mesh.vertices + mesh.origin, faces=mesh.faces,
                      element=np.asarray(element, dtype=np.int32), phase=np.asarray(phase, dtype=np.int32),
                      material=np.asarray(material, dtype=np.int32), labels_from=source, file_faces=file_faces,
                      notes=notes)


def face_changes(vertices: np.ndarray, faces: np.ndarray, folder: Path) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Per face the distance (m, NaN for none) and significance of the comparison's nearest
    core point within :data:`CHANGE_REACH` core spacings of the face's centroid; the core
    spacing (median nearest-neighbour distance of the core points) and the colour scale's
    limit (the change maps')."""
    from twin.compare.inputs import read_cloud  # noqa: PLC0415
    from twin.ops.neighbours import KdTree  # noqa: PLC0415
    from twin.report.figures import change_limit  # noqa: PLC0415

    cloud = read_cloud(Path(folder) / "core_points.laz")
    distance = np.asarray(cloud.attrs["distance"], dtype=np.float64)
    significant = np.asarray(cloud.attrs["significant"]) > 0
    core = cloud.xyz + (cloud.origin - vertices.mean(axis=0))
    centroids = vertices[faces].mean(axis=1) - vertices.mean(axis=0)
    tree = KdTree(core)
    sample = core[:: max(1, len(core) // 20_000)]
    spacing = float(np.median(tree.query(sample, k=2)[0][:, 1])) if len(core) > 1 else 0.1
    dist, idx = tree.query(centroids, k=1, distance_upper_bound=CHANGE_REACH * spacing)
    found = np.isfinite(dist) & (idx < len(core))
    change = np.full(len(faces), np.nan)
    flag = np.zeros(len(faces), dtype=bool)
    change[found] = distance[idx[found]]
    flag[found] = significant[idx[found]]
    return change, flag & np.isfinite(change), spacing, change_limit(distance, significant)


# -- packing --------------------------------------------------------------------------------


def _ids(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=np.int64)
    return np.where(v < 0, NONE_ID, v).astype("<u2")


def pack(mesh: ViewerMesh, change: np.ndarray | None, significant: np.ndarray | None) -> tuple[dict, bytes]:
    """The binary the page unpacks (before gzip) and its manifest: per array its type,
    byte offset and length; plus the frame: ``centre`` (world) and the quantisation."""
    world = mesh.vertices
    lo, hi = world.min(axis=0), world.max(axis=0)
    centre = (lo + hi) / 2.0
    span = np.maximum(hi - lo, 1e-9)
    q = np.round((world - lo) / span * 65535.0).astype("<u2")
    index_type = "<u2" if len(world) <= 65535 else "<u4"
    arrays = [("position", q.reshape(-1)), ("index", mesh.faces.astype(index_type).reshape(-1)),
              ("element", _ids(mesh.element)), ("phase", _ids(mesh.phase)), ("material", _ids(mesh.material))]
    if change is not None:
        steps = np.where(np.isfinite(change), np.clip(np.round(np.nan_to_num(change) / CHANGE_UNIT), -32767, 32767),
                         NO_CHANGE).astype("<i2")
        arrays += [("change", steps), ("significant", np.asarray(significant, dtype=np.uint8))]
    names = {"<u2": "u16", "<u4": "u32", "<i2": "i16", "|u1": "u8"}
    manifest, chunks, offset = {}, [], 0
    for name, a in arrays:
        a = np.ascontiguousarray(a)
        pad = (-offset) % 4  # typed arrays need aligned offsets
        chunks.append(b"\0" * pad)
        offset += pad
        manifest[name] = {"type": names[a.dtype.str], "offset": offset, "count": int(a.size)}
        chunks.append(a.tobytes())
        offset += a.nbytes
    frame = {"centre": [float(c) for c in centre], "min": [float(c) for c in lo - centre],
             "step": [float(s / 65535.0) for s in span], "vertices": len(world), "faces": len(mesh.faces)}
    return {"arrays": manifest, "frame": frame}, b"".join(chunks)


def b64gz(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return base64.b64encode(gzip.compress(data, compresslevel=9, mtime=0)).decode("ascii")


def json_for_script(value) -> str:
    """JSON safe inside a <script> element (no "</script>", no "<!--")."""
    return (json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


# -- the section ----------------------------------------------------------------------------


class ViewerInfo(BaseModel):
    """What the report says about its 3D view (``ReportInfo.viewer``)."""

    shown: bool
    missing: str | None = None  # why there is no 3D view
    level: str | None = None  # the mesh level shown
    faces: int = 0
    three: str | None = None  # three.js version embedded
    embedded_bytes: int = 0  # the section's share of the page
    labels_from: str | None = None


def _element_meta(revision, comparison: dict | None) -> list[dict]:
    from twin.models.layers import effective_links  # noqa: PLC0415

    layers = revision.layers
    groups: dict[str, list[str]] = {}
    for e in layers.elements:
        for member in getattr(e.region, "union", None) or []:
            groups.setdefault(member, []).append(e.name)
    rows = {r.get("element"): r for r in (comparison or {}).get("elements") or []}
    keep = ("core_points", "significant", "significant_share", "changed_share", "median_distance", "max_change",
            "mean_lod")
    out = []
    for e in layers.elements:
        phases, materials = effective_links(layers, e.id)
        row = rows.get(e.id)
        out.append({"id": e.id, "name": e.name, "class": e.class_, "knowledge": e.knowledge.status,
                    "stable": e.stable, "groups": groups.get(e.id, []), "phases": list(phases),
                    "materials": list(materials),
                    "change": {k: _finite(row.get(k)) for k in keep} if row else None})
    return out


def _finite(value):
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def section(data) -> tuple[str, ViewerInfo]:
    """The report's "3D view" section (HTML) for ``data`` (twin.report.data.ReportData)."""
    from twin.report import html as h  # noqa: PLC0415

    survey = data.survey.record.id
    head = f'<h2 id="view-3d">3D view of survey {h.esc(survey)}</h2>'

    def missing(why: str) -> tuple[str, ViewerInfo]:
        return (f'{head}<p class="warn" id="twin-viewer-missing">The 3D view is missing: {h.esc(why)}.</p>',
                ViewerInfo(shown=False, missing=why))

    three, why = find_three()
    if three is None:
        return missing(why)
    model = data.survey.model
    mesh = viewer_mesh(model, data.layers)
    if mesh is None:
        return missing(f"the model of survey {survey} ({model.key[:12]}, pipeline {model.pipeline}) has no mesh; "
                       "process the survey with a pipeline that meshes (the default one does)")
    change = significant = None
    change_meta = None
    if data.comparison is not None and data.comparison_folder is not None:
        change, significant, spacing, limit = face_changes(mesh.vertices, mesh.faces, data.comparison_folder)
        inputs = data.comparison.get("inputs") or {}
        change_meta = {"from": (inputs.get("from") or {}).get("survey"), "to": (inputs.get("to") or {}).get("survey"),
                       "limit": limit, "unit": CHANGE_UNIT, "reach": CHANGE_REACH * spacing,
                       "method": data.comparison.get("method")}
    manifest, binary = pack(mesh, change, significant)
    from twin.render.colours import DIVERGING, MUTED_COLOUR, NONE_COLOUR, palette_colour  # noqa: PLC0415

    layers = data.layers.layers if data.layers is not None else None
    counts = {"element": len(layers.elements), "phase": len(layers.phases),
              "material": len(layers.materials)} if layers else {"element": 0, "phase": 0, "material": 0}
    colours = {what: [list(palette_colour(i)) for i in range(max(1, n))] for what, n in counts.items()}
    colours.update(none=list(NONE_COLOUR), muted=list(MUTED_COLOUR), diverging=DIVERGING.astype(int).tolist())
    meta = {
        **manifest,
        "structure": data.structure_id, "survey": survey, "model": model.key, "level": mesh.level,
        "elements": _element_meta(data.layers, data.comparison) if layers else [],
        "phases": [{"id": p.id, "type": p.type, "date": str(p.date), "name": p.name} for p in layers.phases]
        if layers else [],
        "materials": [{"id": m.id, "label": m.label, "aat": m.aat} for m in layers.materials] if layers else [],
        "colours": colours,  # the elevations' palette (twin.render.colours), by index
        "change": change_meta,
    }
    blobs = {"twin-viewer-mesh": b64gz(binary), "twin-three-core": b64gz(three.core),
             "twin-three-module": b64gz(three.module), "twin-three-orbit": b64gz(three.orbit)}
    from twin.report.viewer_js import VIEWER_JS  # noqa: PLC0415

    options = [("element", "element"), ("phase", "phase"), ("material", "material")]
    if change_meta is not None:
        options.append(("change", f"change {change_meta['from']} → {change_meta['to']}"))
    select = "".join(f'<option value="{v}">{h.esc(t)}</option>' for v, t in options)
    decimated = "".join(f"; {h.esc(n)}" for n in mesh.notes)
    parts = [
        head,
        f'<p class="sub">Mesh level <b>{h.esc(mesh.level)}</b> of model <span class="mono">{h.esc(model.key[:12])}'
        f"</span> ({len(mesh.faces):,} faces, {len(mesh.vertices):,} vertices{decimated}); {h.esc(mesh.labels_from)}. "
        f"Drawn by three.js {h.esc(three.version)} (MIT licence), embedded in this page: nothing is fetched.</p>",
        '<div class="viewer" id="twin-viewer">',
        '<div class="viewer-bar"><label>Colour by <select id="twin-viewer-colour">' + select + "</select></label>"
        '<button type="button" id="twin-viewer-home">Reset view</button>'
        '<span id="twin-viewer-status" class="viewer-status">Loading the 3D view…</span></div>',
        '<div class="viewer-main"><canvas id="twin-viewer-canvas"></canvas>'
        '<aside id="twin-viewer-info"><p class="sub">Click a part of the model for its element, phase, material'
        + (" and change" if change_meta else "") + ".</p></aside></div>",
        '<div id="twin-viewer-legend" class="viewer-legend"></div>',
        "<noscript><p class=\"warn\">The 3D view needs JavaScript.</p></noscript>",
        "</div>",
        f'<script type="application/json" id="twin-viewer-data">{json_for_script(meta)}</script>',
    ]
    parts += [f'<script type="application/octet-stream" id="{k}">{v}</script>' for k, v in blobs.items()]
    parts.append(f"<script>{VIEWER_JS}</script>")
    html = "\n".join(parts)
    return html, ViewerInfo(shown=True, level=mesh.level, faces=len(mesh.faces), three=three.version,
                            embedded_bytes=len(html.encode("utf-8")), labels_from=mesh.labels_from)

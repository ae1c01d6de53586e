"""``twin report``: one HTML page a conservator can open offline.

Sections, after a table of contents: the structure's descriptive metadata (Dublin Core terms
from its layers); a 3D view of the survey's model (three.js embedded in the page, coloured by
element, phase, material or change, a click on a part naming it: twin.report.viewer); the
surveys, their scans and the models derived from them, with provenance; registration
quality (per survey: the station graph in plan, links coloured by their error, the link
and station tables, bundle and loop errors, and every flag: twin.report.registration);
the layers as tables; elevations coloured by phase and by material; and, with a
second survey, the change maps and the per-element table, significant changes first; and a
glossary of the terms the tables use (twin.report.glossary).
"""

from __future__ import annotations

import time
from pathlib import Path

from pydantic import BaseModel

from twin.report import html as h
from twin.report.data import ReportData, gather, load_comparison
from twin.report.viewer import ViewerInfo

HIGHLIGHT_SHARE = 0.05  # rows whose share of significant core points exceeds this stand out
DC_TERMS = ("title", "creator", "contributor", "date", "description", "rights", "license", "source", "identifier",
            "spatial", "temporal")


class ReportInfo(BaseModel):
    path: str
    structure_id: str
    survey_id: str
    compared_with: str | None
    comparison_folder: str | None
    images: int
    size_bytes: int
    seconds: float
    viewer: ViewerInfo  # the 3D view: shown, or missing and why


def build_report(ws, structure_id: str, out: Path, survey_id: str | None = None, compare_with: str | None = None,
                 ppm: float | None = None) -> ReportInfo:
    """Write the report of a structure to ``out`` (HTML, atomically)."""
    from twin.io.atomic import atomic_write_bytes  # noqa: PLC0415
    from twin.errors import UsageError  # noqa: PLC0415

    started = time.perf_counter()
    out = Path(out)
    if out.exists() and out.is_dir():
        raise UsageError(f"--out {out}: is a folder; give the HTML file to write")
    if ppm is not None and not (ppm > 0 and ppm < 1e5):
        raise UsageError(f"--ppm must be a positive number of pixels per metre, got {ppm}")
    data = gather(ws, structure_id, survey_id, compare_with)
    if compare_with is not None:
        load_comparison(ws, data, compare_with)
    body, images, viewer = _body(data, ppm)
    title = _title(data)
    document = h.page(title, body)
    atomic_write_bytes(out, document.encode("utf-8"))
    out.chmod(0o644)  # a report is for sharing (the atomic write's temporary file is private)
    return ReportInfo(
        path=str(out), structure_id=structure_id, survey_id=data.survey.record.id, compared_with=compare_with,
        comparison_folder=str(data.comparison_folder) if data.comparison_folder else None, images=images,
        size_bytes=out.stat().st_size, seconds=round(time.perf_counter() - started, 2), viewer=viewer,
    )


def _title(data: ReportData) -> str:
    if data.layers is not None:
        return data.layers.layers.metadata.title
    return data.structure_name or data.structure_id


def _body(data: ReportData, ppm: float | None) -> tuple[str, int, ViewerInfo]:
    from twin import __version__  # noqa: PLC0415
    from twin.report import viewer  # noqa: PLC0415
    from twin.report.glossary import glossary_html, with_contents  # noqa: PLC0415

    head = [f"<h1>{h.esc(_title(data))}</h1>",
            f'<p class="sub">structure <b>{h.esc(data.structure_id)}</b> · survey shown '
            f"<b>{h.esc(data.survey.record.id)}</b> · workspace {h.esc(data.workspace)} · generated "
            f"{h.esc(time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()))} by twin {h.esc(__version__)}</p>"]
    for note in data.notes:
        head.append(f'<p class="note">{h.esc(note)}</p>')
    parts = [_metadata(data)]
    view, view_info = viewer.section(data)
    parts.append(view)
    parts.append(_surveys(data))
    registration, graphs = _registration(data)
    parts.append(registration)
    parts.append(_layers(data))
    figures, images = _elevations(data, ppm)
    images += graphs
    parts.append(figures)
    if data.comparison is not None:
        section, n = _comparison(data, ppm)
        parts.append(section)
        images += n
    parts.append(glossary_html())
    body, contents = with_contents("\n".join(parts))
    parts = [*head, contents, body]
    parts.append(f"<footer>Made with twin {h.esc(__version__)}. Dates are EDTF; materials Getty AAT; "
                 "metadata Dublin Core terms; knowledge status after the London Charter.</footer>")
    return "\n".join(parts), images, view_info


def _metadata(data: ReportData) -> str:
    out = ["<h2>Structure</h2>"]
    if data.layers is None:
        out.append(f'<p class="warn">No layers recorded for {h.esc(data.structure_id)}: no metadata, elements, '
                   f"phases or materials. Add them with <code>twin layers set {h.esc(data.structure_id)} FILE</code>."
                   "</p>")
        return "\n".join(out)
    md = data.layers.layers.metadata
    rows = []
    for term in DC_TERMS:
        value = getattr(md, term, None)
        if value in (None, [], ""):
            continue
        if isinstance(value, list):
            value = "; ".join(value)
        cell = h.link(value) if term == "license" else h.esc(value)
        rows.append([f"dcterms:{term}", cell])
    if data.layers.layers.crs:
        rows.append(["coordinate system", h.esc(data.layers.layers.crs)])
    rev = data.layers
    rows.append(["layers revision", h.esc(f"{rev.rev} by {rev.author}, {rev.created_at} (sha256 {rev.sha256[:12]})")])
    out.append(h.table(["term", "value"], rows, raw=True))
    return "\n".join(out)


def _surveys(data: ReportData) -> str:
    out = ["<h2>Surveys, scans and models</h2>"]
    rows = []
    for s in data.surveys:
        r, m = s.record, s.model
        rows.append([r.id, r.date or "", r.team or "", r.instrument or "", f"{r.scans:,}", f"{r.points:,}",
                     (f"{m.key[:12]} ({m.pipeline}, {m.created_at})" if m else "not processed")])
    out.append(h.table(["survey", "date", "team", "instrument", "scans", "points", "model"], rows, numeric=(4, 5)))
    for s in data.surveys:
        out.append(f"<h3>Survey {h.esc(s.record.id)}</h3>")
        out.append(h.table(
            ["station", "file", "format", "points", "CRS", "capture date", "SHA-256", "ingested"],
            [[sc.station, sc.original_name, sc.format.upper(), f"{sc.point_count:,}",
              f"EPSG:{sc.crs_epsg}" if sc.crs_epsg else (sc.crs_name or "none"), sc.capture_date or "",
              sc.sha256[:16] + "…", sc.ingested_at] for sc in s.scans],
            numeric=(3,),
        ))
        if s.model is not None:
            out.append(_provenance(s.model))
    return "\n".join(out)


def _provenance(model) -> str:
    p = model.provenance
    stages = [[st.get("stage"), "cached" if st.get("cached") else f"{st.get('seconds', 0):.1f} s",
               f"{st.get('points_in', 0):,}", f"{st.get('points_out', 0):,}", f"{st.get('faces_out', 0):,}",
               ", ".join(f"{k}={v}" for k, v in (st.get("params") or {}).items() if k != "stage")]
              for st in p.get("stages", [])]
    inner = [f"<p>model <span class=\"mono\">{h.esc(model.key)}</span>: pipeline <b>{h.esc(model.pipeline)}</b>, "
             f"{model.point_count:,} points, {model.face_count:,} faces; run {h.esc(p.get('started_at'))} – "
             f"{h.esc(p.get('finished_at'))} on {h.esc(p.get('host'))}</p>",
             h.table(["stage", "time", "points in", "points out", "faces", "parameters"], stages, numeric=(2, 3, 4)),
             h.table(["output", "SHA-256", "bytes"],
                     [[o.get("path"), o.get("sha256"), f"{o.get('size_bytes', 0):,}"] for o in p.get("outputs", [])],
                     numeric=(2,)),
             "<p>software: " + h.esc(", ".join(f"{k} {v}" for k, v in (p.get("software") or {}).items())) + "</p>"]
    return f"<details><summary>provenance of model {h.esc(model.key[:12])}</summary>{''.join(inner)}</details>"


def _registration(data: ReportData) -> tuple[str, int]:
    from twin.report.registration import background_points, graph_figure, section, view_of_model  # noqa: PLC0415

    out = ["<h2>Registration quality</h2>"]
    images = 0
    any_reg = False
    for s in data.surveys:
        reg = s.model.registration if s.model is not None else None
        if not reg:
            continue
        any_reg = True
        view = view_of_model(s.model)
        figure = None
        if view.quality is not None and len(view.scanner_positions) >= 2:
            figure = graph_figure(reg, background=background_points(s.model),
                                  title=f"station graph of survey {s.record.id}, plan")
            images += figure is not None
        out.append(section(view, figure))
    if not any_reg:
        out.append('<p class="sub">No model records a registration (single stations, or not processed).</p>')
    a = (data.comparison or {}).get("alignment")
    if a:
        out.append(
            f"<p>Survey-to-survey alignment ({h.esc(data.comparison['inputs']['to']['survey'])} onto "
            f"{h.esc(data.comparison['inputs']['from']['survey'])}, robust ICP on the stable parts): "
            f"moved the structure's points {h.num(a.get('mean_displacement_m'), 1, 1000)} mm on average and "
            f"{h.num(a.get('max_displacement_m'), 1, 1000)} mm at most (a rotation of "
            f"{h.num(a.get('rotation_deg'), 4)}°; at the model's local origin, away from the structure, the shift "
            f"is {h.num(a.get('translation_m'), 1, 1000)} mm); residual "
            f"{h.num(a.get('residual'), 1, 1000)} mm over {a.get('correspondences', 0):,} correspondences "
            f"(fitness {h.num(a.get('fitness'), 2)}, stable share {h.num(a.get('stable_share'), 2)}).</p>"
        )
    return "\n".join(out), images


def _layers(data: ReportData) -> str:
    if data.layers is None:
        return ""
    from twin.models.layers import effective_links, region_kind  # noqa: PLC0415

    layers = data.layers.layers
    out = ["<h2>Layers</h2>", "<h3>Elements</h3>"]
    rows = []
    for e in layers.elements:
        kind = region_kind(e.region)
        if kind == "union":
            kind = "group of " + ", ".join(e.region.union)
        phases, materials = effective_links(layers, e.id)
        rows.append([e.id, e.name, e.class_, e.knowledge.status, "; ".join(e.knowledge.sources),
                     "yes" if e.stable else "no", kind, ", ".join(phases), ", ".join(materials)])
    out.append(h.table(["element", "name", "class (CIDOC-CRM/CRMba)", "knowledge", "sources", "stable", "region",
                        "phases", "materials"], rows))
    out.append("<h3>Phases</h3>")
    prow = []
    for p in layers.phases:
        span = p.span()
        dates = f"{span.earliest or '..'} – {span.latest or '..'}"
        prow.append([h.esc(p.id), h.esc(p.type), h.esc(p.date), h.esc(dates), h.esc(p.name or ""),
                     h.esc(p.description or ""), h.link(p.periodo) if p.periodo else ""])
    out.append(h.table(["phase", "type", "date (EDTF)", "span", "name", "description", "PeriodO"], prow, raw=True))
    out.append("<h3>Materials</h3>")
    out.append(h.table(["material", "label", "Getty AAT", "properties"],
                       [[h.esc(m.id), h.esc(m.label), h.link(m.aat),
                         h.esc(", ".join(f"{k}: {v}" for k, v in m.properties.items()))] for m in layers.materials],
                       raw=True))
    return "\n".join(out)


def _elevations(data: ReportData, ppm: float | None) -> tuple[str, int]:
    from twin.report.figures import layer_elevations  # noqa: PLC0415

    model = data.survey.model
    groups = layer_elevations(model, data.layers.layers if data.layers else None, ppm)
    out = [f"<h2>Elevations of survey {h.esc(data.survey.record.id)}</h2>"]
    n = 0
    titles = {"phase": "By phase", "material": "By material", "model": "The model (no layers to colour by)"}
    for by, figures in groups.items():
        out.append(f"<h3>{h.esc(titles.get(by, by))}</h3><div class=\"grid\">")
        for f in figures:
            out.append(h.image(f.png, f"{f.title} by {by}", f.caption))
            n += 1
        out.append("</div>")
    return "\n".join(out), n


def _comparison(data: ReportData, ppm: float | None) -> tuple[str, int]:
    from twin.report.figures import change_maps  # noqa: PLC0415

    c = data.comparison
    f = c["figures"]
    a, b = c["inputs"]["from"], c["inputs"]["to"]
    m = c.get("m3c2") or {}
    out = [f"<h2>Changes from {h.esc(a['survey'])} to {h.esc(b['survey'])}</h2>"]
    params = (f"normal radius {h.num(m.get('normal_radius'), 2)} m, cylinder radius "
              f"{h.num(m.get('cylinder_radius'), 2)} m, half length {h.num(m.get('cylinder_half_length'), 2)} m, "
              f"{'median' if m.get('use_median') else 'mean'}, normals {h.esc(m.get('orientation'))}") if m else ""
    share = f.get("significant_share")
    out.append(
        f"<p>Method <b>{h.esc(c['method'])}</b>{' (' + params + ')' if params else ''}; "
        f"{f['core_points']:,} core points ({h.esc(c['core_points']['source'])}), {f['with_distance']:,} with a "
        f"distance, <b>{f['significant']:,} significant</b>"
        + (f" ({h.num(100 * share, 1)} %)" if share is not None else "")
        + f"; registration error {h.num(c.get('registration_error'), 1, 1000)} mm; median level of detection "
        f"{h.num(f.get('median_lod'), 1, 1000)} mm (95 %). Positive distances: the surface moved along its "
        "normal (outward, away from the structure's centre, with the default orientation). The terms are "
        'explained in the <a href="#glossary">glossary</a>.</p>'
    )
    left_out = {k: v for k, v in (f.get("reasons") or {}).items() if k != "ok"}
    if left_out:
        out.append("<p>Core points left out (a distance is kept for inspection, but no level of detection and no "
                   "significance): " + ", ".join(f"{h.esc(k.replace('_', ' '))} {v:,}" for k, v in
                                                 sorted(left_out.items())) + ".</p>")
    out.append(f'<p class="sub">results: {h.esc(str(data.comparison_folder))}</p>')
    figures = change_maps(data.comparison_folder, c, ppm)
    out.append('<div class="grid">')
    for fig in figures:
        out.append(h.image(fig.png, f"change map, {fig.title}", fig.caption))
    out.append("</div>")
    out.append("<h3>Per element, significant changes first</h3>")
    out.append(f'<p class="sub">Highlighted: more than {100 * HIGHLIGHT_SHARE:g} % of the element\'s core points '
               "changed significantly. Distances in mm. \"Changed %\": the share of the element's core points in "
               "regions of significant change; \"peak\": the change of the largest supported neighbourhood (at "
               "least 5 significant core points within 2.5 core spacings agreeing within their levels of "
               "detection; a single core point never makes it), where it is (world coordinates) and its region's "
               "area; \"spread\": the interquartile range of the trusted distances; \"left out\": core points "
               "without a trusted distance (a cylinder holding a second surface in different proportions in the "
               "two surveys, a survey that did not see the place, too few points).</p>")
    rows, classes = [], []
    for r in c.get("elements") or []:
        xyz = r.get("max_change_xyz")
        where = "" if not xyz else f"{xyz[0]:.2f}, {xyz[1]:.2f}, {xyz[2]:.2f}"
        share = r.get("changed_share")
        left_out = r.get("left_out") or {}
        rows.append([r["element"] + (" (group)" if r.get("group") else ""), r.get("name") or "",
                     "" if r.get("stable") is None else ("yes" if r["stable"] else "no"),
                     f"{r['core_points']:,}", f"{sum(left_out.values()):,}", f"{r.get('changed') or 0:,}",
                     h.num(None if share is None else 100 * share, 1),
                     h.num(r.get("median_distance"), 1, 1000, True), h.num(r.get("distance_iqr"), 1, 1000),
                     h.num(r.get("max_change"), 1, 1000, True), where, h.num(r.get("max_change_area"), 2),
                     h.num(r.get("mean_lod"), 1, 1000)])
        classes.append("sig" if share is not None and share > HIGHLIGHT_SHARE else "")
    out.append(h.table(["element", "name", "stable", "core points", "left out", "changed", "changed %",
                        "median (mm)", "spread (mm)", "peak (mm)", "where (x, y, z)", "peak area (m²)",
                        "mean LoD (mm)"], rows,
                       numeric=(3, 4, 5, 6, 7, 8, 9, 11, 12), row_classes=classes))
    return "\n".join(out), len(figures)

"""The registration record of a model, as a surveyor reads it.

``twin process`` records what registration found in the model's provenance
(``provenance["registration"]``, written by the pipeline's ``register`` stage): the
reference station, each station's transform and fit, the scanner positions (world), and
the survey's quality report (twin.ops.registration.quality): per link the overlap both
ways, the cloud-to-cloud error, the share within tolerance and the strength per axis;
per station its links and the runner-up alignment; per survey the bundle error and the
loop closures; and flags, each naming the problem and the fix.

:func:`registration_view` loads it for the latest model of a survey (``twin
registration``); :func:`view_from_record` reads a record already in hand (``twin
report``); :func:`graph_figure` draws the station graph and :func:`section` writes the
report's HTML for one survey.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field

from twin.errors import NotFoundError

DEFAULT_TOLERANCE_MM = 6.0  # a building's, when the record states none
BACKGROUND_POINTS = 200_000  # the most model points drawn under a station graph


class _Row(BaseModel):
    model_config = ConfigDict(extra="ignore")


class LinkView(_Row):
    source: str
    target: str
    overlap_source: float = 0.0  # share of the source's points the target also saw
    overlap_target: float = 0.0
    rms_mm: float | None = None
    mean_mm: float | None = None
    within: float = 0.0  # share of the overlap's distances within the tolerance
    tolerance_mm: float | None = None
    strength: dict[str, float] = Field(default_factory=dict)  # X, Y, Z
    points: int = 0
    in_tree: bool = True
    flags: list[str] = Field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.source} - {self.target}"


class RunnerUpView(_Row):
    partner: str
    rotation_deg: float
    shift_m: float
    support: float
    chosen_support: float


class StationView(_Row):
    name: str
    fitness: float | None = None
    rmse_mm: float | None = None
    links: list[str] = Field(default_factory=list)
    runner_up: RunnerUpView | None = None
    flags: list[str] = Field(default_factory=list)


class LoopView(_Row):
    link: str
    stations: list[str] = Field(default_factory=list)
    rotation_deg: float | None = None
    shift_mm: float | None = None


class Flag(BaseModel):
    """A warning: what it is about (``survey``, ``link A - B``, ``station S``) and the
    recorded message (the problem, then what to do about it)."""

    subject: str
    message: str

    def line(self) -> str:
        return f"{self.subject}: {self.message}"


class RegistrationView(BaseModel):
    """What one model records of its registration, ready to show."""

    structure_id: str
    survey_id: str
    model_key: str | None = None
    pipeline: str | None = None
    created_at: str | None = None
    reference: str | None = None
    station_count: int = 0
    scanner_positions: dict[str, list[float]] = Field(default_factory=dict)
    links: list[LinkView] = Field(default_factory=list)
    stations: list[StationView] = Field(default_factory=list)
    loops: list[LoopView] = Field(default_factory=list)
    bundle_rms_mm: float | None = None
    max_loop_mm: float | None = None
    tolerance_mm: float | None = None
    flags: list[Flag] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    quality: dict | None = None  # the record's quality report as written, for scripts

    def quality_json(self) -> dict | None:
        """The recorded quality report with every non-finite number (a link with no
        measured distance has an infinite error) as null, so that strict JSON parsers read it."""
        return _finite(self.quality)

    @property
    def warnings(self) -> int:
        return len(self.flags)

    def survey_line(self) -> str:
        """Bundle error and the worst loop closure, in one sentence."""
        if self.quality is None:
            return "no quality report"
        parts = [f"bundle RMS {_mm(self.bundle_rms_mm)} mm over {len(self.links)} "
                 f"link{'s' if len(self.links) != 1 else ''}"]
        if self.loops:
            worst = max(self.loops, key=lambda lp: lp.shift_mm if lp.shift_mm is not None else -1.0)
            parts.append(f"worst loop closure {_mm(self.max_loop_mm)} mm ({len(self.loops)} "
                         f"loop{'s' if len(self.loops) != 1 else ''}; worst closed by link {worst.link})")
        else:
            parts.append("no loops (a spanning tree only: nothing checks the links against each other)")
        if self.tolerance_mm is not None:
            parts.append(f"tolerance {_mm(self.tolerance_mm)} mm")
        return "; ".join(parts)

    def flagged_links(self) -> set[str]:
        """Links with a flag of their own, or named by a survey flag (an open loop)."""
        out = {k.name for k in self.links if k.flags}
        for f in self.flags:
            if f.subject == "survey":
                out |= {k.name for k in self.links if f"by link {k.name}" in f.message}
        return out

    def flagged_stations(self) -> set[str]:
        return {s.name for s in self.stations if s.flags}


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _mm(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.1f}"


def view_from_record(record: dict | None, structure_id: str, survey_id: str, *, model_key: str | None = None,
                     pipeline: str | None = None, created_at: str | None = None) -> RegistrationView:
    """The view of a registration record (``provenance["registration"]``). A record made
    before quality reports existed, or of a single station, gives a view with a note."""
    record = record or {}
    stations = record.get("stations") or {}
    view = RegistrationView(
        structure_id=structure_id, survey_id=survey_id, model_key=model_key, pipeline=pipeline,
        created_at=created_at, reference=record.get("reference"), station_count=len(stations),
        scanner_positions={k: [float(c) for c in v] for k, v in (record.get("scanner_positions") or {}).items()
                           if v is not None},
    )
    quality = record.get("quality")
    if quality is None:
        if len(stations) <= 1:
            view.notes.append("one station: nothing to register it against, so no links and no quality report")
        elif "quality" not in record:
            view.notes.append("this model was registered before twin recorded quality reports; process the "
                              "survey again to get one")
        else:
            view.notes.append("the registration recorded no quality report")
        view.stations = [StationView(name=name, fitness=st.get("fitness"),
                                     rmse_mm=None if st.get("inlier_rmse") is None else 1000 * st["inlier_rmse"])
                         for name, st in stations.items()]
        return view
    view.quality = quality
    view.links = [LinkView.model_validate(k) for k in quality.get("links") or []]
    view.stations = [StationView.model_validate(s) for s in quality.get("stations") or []]
    view.loops = [LoopView.model_validate(lp) for lp in quality.get("loops") or []]
    view.bundle_rms_mm = quality.get("bundle_rms_mm")
    view.max_loop_mm = quality.get("max_loop_mm")
    if view.max_loop_mm is None and view.loops:
        view.max_loop_mm = max((lp.shift_mm or 0.0) for lp in view.loops)
    tolerances = [k.tolerance_mm for k in view.links if k.tolerance_mm is not None]
    lengths = quality.get("lengths") or record.get("lengths") or {}
    if tolerances:
        view.tolerance_mm = tolerances[0]
    elif isinstance(lengths.get("tolerance"), (int, float)):
        view.tolerance_mm = 1000 * float(lengths["tolerance"])
    view.flags = ([Flag(subject="survey", message=m) for m in quality.get("flags") or []]
                  + [Flag(subject=f"link {k.name}", message=m) for k in view.links for m in k.flags]
                  + [Flag(subject=f"station {s.name}", message=m) for s in view.stations for m in s.flags])
    return view


def view_of_model(model) -> RegistrationView:
    """The view of a model's registration (``model``: twin.catalog.models.ModelFiles).
    Raises NotFoundError when the model records none (its pipeline did not register)."""
    record = model.registration
    if not record:
        raise NotFoundError(
            f"{model.structure_id}/{model.survey_id}: the latest model ({model.key[:12]}, pipeline "
            f"{model.pipeline}) records no registration: its pipeline has no register stage; run: twin process "
            f"{model.structure_id} --survey {model.survey_id} --pipeline default"
        )
    return view_from_record(record, model.structure_id, model.survey_id, model_key=model.key,
                            pipeline=model.pipeline, created_at=model.created_at)


def registration_view(ws, structure_id: str, survey_id: str | None = None) -> RegistrationView:
    """The registration of the latest model of a survey (default: the latest survey of
    the structure that has a model). Raises NotFoundError for an unknown structure or
    survey, a survey never processed, or a model that records no registration."""
    from twin.catalog.models import all_models, latest_model  # noqa: PLC0415

    if survey_id is None:
        ws.require_structure(structure_id)
        models = all_models(ws, structure_id)
        if not models:
            raise NotFoundError(
                f"no survey of {structure_id!r} has a processed model yet; run: twin process {structure_id}"
            )
        return view_of_model(models[-1])
    return view_of_model(latest_model(ws, structure_id, survey_id))


# -- the report's pictures and HTML ---------------------------------------------------------


def graph_figure(record: dict, *, background=None, ppm: float | None = None, title: str | None = None):
    """The station graph of a registration record (``provenance["registration"]``) in
    plan view, as a report Figure; None when there is nothing to draw (one station, no
    quality report, fewer than two scanner positions). ``background``: world points of
    the model (n, >= 2) drawn pale grey under the graph."""
    from twin.render.graph import GraphLink, station_graph  # noqa: PLC0415
    from twin.report.figures import Figure  # noqa: PLC0415

    view = view_from_record(record, "", "")
    if view.quality is None or len(view.scanner_positions) < 2:
        return None
    flagged = view.flagged_links()
    links = [GraphLink(k.source, k.target, k.rms_mm, loop=not k.in_tree, flagged=k.name in flagged)
             for k in view.links]
    tolerance = view.tolerance_mm or DEFAULT_TOLERANCE_MM
    picture = station_graph(view.scanner_positions, links, tolerance, reference=view.reference,
                            flagged_stations=sorted(view.flagged_stations()), background=background, ppm=ppm,
                            title=title or "station graph, plan")
    unplaced = sorted(set(s.name for s in view.stations) - set(view.scanner_positions))
    caption = (f"plan of the scanner positions, {picture.frame.ppm:g} px/m; links coloured by their RMS "
               f"cloud-to-cloud error in classes of the {tolerance:g} mm tolerance, solid on the spanning tree, "
               "dashed where a link closes a loop; flagged links cased and flagged stations ringed in magenta; "
               "the reference station is the square"
               + (f"; no scanner position for {', '.join(unplaced)}" if unplaced else ""))
    return Figure(title="station graph", caption=caption, png=picture.png_bytes())


def background_points(model, limit: int = BACKGROUND_POINTS):
    """World points of a model's cloud, an even stride of at most ``limit`` (None when it has no cloud)."""
    cloud_path = model.cloud
    if cloud_path is None:
        return None
    from twin.compare.inputs import read_cloud  # noqa: PLC0415

    cloud = read_cloud(cloud_path)
    stride = max(1, math.ceil(len(cloud) / limit))
    return cloud.xyz[::stride] + cloud.origin


def _pct(share: float | None) -> str:
    return "–" if share is None or not math.isfinite(share) else f"{100 * share:.0f} %"


def link_rows(view: RegistrationView) -> list[list[str]]:
    """One row per link: stations, overlap both ways, RMS and mean (mm), within tolerance,
    strength X / Y / Z, tree or loop, points measured."""
    rows = []
    for k in view.links:
        strength = " / ".join(f"{k.strength.get(a, float('nan')):.2f}" for a in "XYZ")
        rows.append([k.name, f"{_pct(k.overlap_source)} / {_pct(k.overlap_target)}", _mm(k.rms_mm), _mm(k.mean_mm),
                     f"{_pct(k.within)} ≤ {_mm(k.tolerance_mm)} mm", strength,
                     "tree" if k.in_tree else "loop", f"{k.points:,}"])
    return rows


LINK_HEADERS = ["link", "overlap (source / target)", "RMS (mm)", "mean (mm)", "within tolerance",
                "strength X / Y / Z", "tree or loop", "points"]
STATION_HEADERS = ["station", "fitness", "RMSE (mm)", "links", "runner-up (support vs chosen)"]


def runner_up_text(runner: RunnerUpView | None) -> str:
    if runner is None:
        return "none"
    return (f"with {runner.partner}: {runner.rotation_deg:.1f}° / {runner.shift_m:.2f} m away, "
            f"support {runner.support:.2f} vs {runner.chosen_support:.2f}")


def station_rows(view: RegistrationView) -> list[list[str]]:
    rows = []
    for s in view.stations:
        name = f"{s.name} (reference)" if s.name == view.reference else s.name
        rows.append([name, "–" if s.fitness is None else f"{s.fitness:.3f}", _mm(s.rmse_mm),
                     ", ".join(s.links) or "none", runner_up_text(s.runner_up)])
    return rows


def section(view: RegistrationView, figure=None) -> str:
    """The report's HTML for one survey's registration: the station graph, the link and
    station tables, the survey line and every flag."""
    from twin.report import html as h  # noqa: PLC0415

    out = [f"<h3>Survey {h.esc(view.survey_id)}: {view.station_count} station"
           f"{'s' if view.station_count != 1 else ''}, reference {h.esc(view.reference or '–')}</h3>"]
    for note in view.notes:
        out.append(f'<p class="sub">{h.esc(note)}</p>')
    if view.quality is None:
        if view.stations:
            out.append(h.table(STATION_HEADERS[:3], [r[:3] for r in station_rows(view)], numeric=(1, 2)))
        return "\n".join(out)
    out.append(f"<p><b>Survey:</b> {h.esc(view.survey_line())}.</p>")
    if figure is not None:
        out.append(h.image(figure.png, f"station graph of survey {view.survey_id}", figure.caption))
    out.append("<h4>Links</h4>")
    out.append('<p class="sub">Overlap: the share of each station\'s points the other also saw. RMS and mean: '
               "cloud-to-cloud (point-to-plane) distances in the overlap. Strength: how well the overlap's surfaces "
               "fix a shift along X, Y and Z (1: fully, 0: not at all). Tree: on the spanning tree; loop: closes a "
               "loop. More in the <a href=\"#glossary\">glossary</a>.</p>")
    flagged = view.flagged_links()
    out.append(h.table(LINK_HEADERS, link_rows(view), numeric=(2, 3, 7),
                       row_classes=["sig" if k.name in flagged else "" for k in view.links]))
    out.append("<h4>Stations</h4>")
    out.append(h.table(STATION_HEADERS, station_rows(view), numeric=(1, 2),
                       row_classes=["sig" if s.flags else "" for s in view.stations]))
    if view.loops:
        out.append("<h4>Loop closures</h4>")
        out.append(h.table(["closing link", "loop", "rotation (°)", "shift (mm)"],
                           [[lp.link, " → ".join(lp.stations), h.num(lp.rotation_deg, 3), _mm(lp.shift_mm)]
                            for lp in view.loops], numeric=(2, 3)))
    if view.flags:
        items = "".join(f"<li><b>{h.esc(f.subject)}</b>: {h.esc(f.message)}</li>" for f in view.flags)
        out.append(f'<div class="warn"><b>{len(view.flags)} warning{"s" if len(view.flags) != 1 else ""}</b>'
                   f"<ul>{items}</ul></div>")
    else:
        out.append('<p class="note">No warnings: every link and station passes the checks.</p>')
    return "\n".join(out)

"""Layer commands: `twin layers set|show|history|diff` and `twin query`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from twin.cli.common import JsonOpt, WorkspaceOpt, new_app, out, print_json

app = new_app(
    "A structure's layers: elements, phases, materials and metadata, authored as YAML and "
    "kept in the catalog revision by revision.\n\n"
    "Example: twin layers set thai-hoa-palace layers/thai-hoa-palace.yaml"
)

StructureArg = Annotated[str, typer.Argument(help="Structure id.")]


@app.callback()
def _layers(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option(
        "--json", help="JSON for scripts from the layers command that follows (the same as its own --json).")] = False,
) -> None:
    if as_json:
        ctx.ensure_object(dict)["json"] = True


@app.command("set")
def set_layers(
    structure: StructureArg,
    file: Annotated[Path, typer.Argument(help="Layer file (YAML), see schemas/layers.schema.json.")],
    author: Annotated[
        str | None, typer.Option(help="Who made this revision (default: $TWIN_AUTHOR, else your login name).")
    ] = None,
    message: Annotated[str | None, typer.Option("--message", "-m", help="Why it changed.")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Validate a layer file and record it as the structure's next revision.

    Nothing is overwritten: every accepted file becomes a new revision. A file with the same
    content as the latest revision records nothing; an invalid file records nothing and
    says where it is wrong.

    Example: twin layers set thai-hoa-palace layers/thai-hoa-palace.yaml --author "N. Lan" -m "roof phases"
    """
    from twin.catalog.layers import set_layers as run  # noqa: PLC0415
    from twin.catalog.workspace import Workspace  # noqa: PLC0415

    info = run(Workspace.open(workspace), structure, file, author=author, message=message)
    if as_json:
        print_json(info)
        return
    if not info.created:
        out.print(f"{structure}: {file} has the same content as revision {info.rev}; nothing recorded", markup=False)
        return
    out.print(
        f"{structure}: recorded layers revision {info.rev} by {info.author} ({info.elements} elements, "
        f"{info.phases} phases, {info.materials} materials; sha256 {info.sha256[:12]})",
        markup=False,
    )


@app.command("show")
def show(
    structure: StructureArg,
    rev: Annotated[int | None, typer.Option("--rev", "-r", min=1, help="Revision (default: the latest).")] = None,
    as_yaml: Annotated[bool, typer.Option("--yaml", help="Print the YAML exactly as it was recorded.")] = False,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a structure's layers: elements with their phases and materials.

    Example: twin layers show thai-hoa-palace --rev 2
    """
    from twin.catalog.layers import get_layers  # noqa: PLC0415
    from twin.catalog.workspace import Workspace  # noqa: PLC0415

    revision = get_layers(Workspace.open(workspace), structure, rev)
    if as_json:
        print_json(revision.model_dump(mode="json", by_alias=True))
        return
    if as_yaml:
        from twin.cli.common import write_stdout  # noqa: PLC0415

        write_stdout(revision.yaml_text if revision.yaml_text.endswith("\n") else revision.yaml_text + "\n")
        return
    layers = revision.layers
    out.print(
        f"{structure}: layers revision {revision.rev}, by {revision.author} at {revision.created_at} "
        f"(sha256 {revision.sha256[:12]})",
        markup=False,
    )
    out.print(f"title: {layers.metadata.title}", markup=False)
    from twin.models.layers import effective_links, region_kind  # noqa: PLC0415

    rows = []
    for e in layers.elements:
        kind = region_kind(e.region)
        if kind == "union":
            kind = "union of " + ", ".join(e.region.union)
        elif kind == "boxes":
            kind = f"{len(e.region.boxes)} boxes"
        ph, ma = effective_links(layers, e.id)
        rows.append([e.id, e.name, e.class_.split("_")[0], e.knowledge.status, kind, ", ".join(ph), ", ".join(ma)])
    _table("elements (class: CIDOC-CRM/CRMba; phases and materials include those of unions)",
           ["element", "name", "class", "status", "region", "phases", "materials"], rows)
    _table("phases", ["phase", "type", "date", "description"],
           [[p.id, p.type, p.date, p.description or ""] for p in layers.phases])
    _table("materials", ["material", "label", "AAT"], [[m.id, m.label, m.aat] for m in layers.materials])


@app.command("history")
def history(structure: StructureArg, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """List every revision of a structure's layers: when, by whom, what it held.

    Example: twin layers history thai-hoa-palace --json
    """
    from twin.catalog.layers import history as run  # noqa: PLC0415
    from twin.catalog.workspace import Workspace  # noqa: PLC0415

    rows = run(Workspace.open(workspace), structure)
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print(f"{structure} has no layers yet; add them with: twin layers set {structure} FILE", markup=False)
        return
    _table(
        None,
        ["rev", "created", "author", "elements", "phases", "materials", "sha256", "message"],
        [[r.rev, r.created_at, r.author, r.elements, r.phases, r.materials, r.sha256[:12], r.message or ""]
         for r in rows],
    )


@app.command("diff")
def diff(
    structure: StructureArg,
    rev1: Annotated[int, typer.Argument(min=1, help="Older revision.")],
    rev2: Annotated[int, typer.Argument(min=1, help="Newer revision.")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare two revisions of a structure's layers.

    Lists the elements, phases and materials added, removed or changed (and in which fields),
    and which elements changed phase or material.

    Example: twin layers diff thai-hoa-palace 1 2
    """
    from twin.catalog.layers import diff as run  # noqa: PLC0415
    from twin.catalog.workspace import Workspace  # noqa: PLC0415

    d = run(Workspace.open(workspace), structure, rev1, rev2)
    if as_json:
        print_json(d)
        return
    if d.identical:
        out.print(f"{structure}: revisions {rev1} and {rev2} have the same content", markup=False)
        return
    lines = [f"{structure}: layers revision {rev1} → {rev2}"]
    for c in d.metadata:
        lines.append(f"  metadata.{c.field}: {_value(c.old)} → {_value(c.new)}")
    for name in ("elements", "phases", "materials"):
        section = getattr(d, name)
        lines += [f"  + {name[:-1]} {i}" for i in section.added]
        lines += [f"  - {name[:-1]} {i}" for i in section.removed]
        for item in section.changed:
            for c in item.fields:
                lines.append(f"  ~ {name[:-1]} {item.id}: {c.field}: {_value(c.old)} → {_value(c.new)}")
    for what, changes in (("phases", d.element_phases), ("materials", d.element_materials)):
        for c in changes:
            parts = [f"+{x}" for x in c.added] + [f"-{x}" for x in c.removed]
            lines.append(f"  element {c.element} {what}: {' '.join(parts)}")
    for line in lines:
        out.print(line, markup=False)


def query(
    material: Annotated[
        str | None, typer.Option(help="Material id, AAT URI or number, or part of its label (any case).")
    ] = None,
    phase: Annotated[str | None, typer.Option(help="Phase id or type (construction, restoration, ...).")] = None,
    date_from: Annotated[
        str | None, typer.Option("--from", help="EDTF: elements with a phase that could fall on or after this.")
    ] = None,
    date_to: Annotated[
        str | None, typer.Option("--to", help="EDTF: elements with a phase that could fall on or before this.")
    ] = None,
    status: Annotated[str | None, typer.Option(help="Knowledge status: measured, inferred or hypothetical.")] = None,
    structure: Annotated[str | None, typer.Option("--structure", "-s", help="Only this structure.")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Find elements across all structures by material, phase, date range or knowledge status.

    Searches every structure's latest layers; all the filters given must hold. A union's
    phases and materials count for its members.

    Example: twin query --material "ironwood" --from 1900 --to 1945 --status measured --json
    """
    from twin.catalog.layers import query_elements  # noqa: PLC0415
    from twin.catalog.workspace import Workspace  # noqa: PLC0415

    hits = query_elements(
        Workspace.open(workspace), material=material, phase=phase, date_from=date_from, date_to=date_to,
        status=status, structure=structure,
    )
    if as_json:
        print_json(hits)
        return
    if not hits:
        out.print("no elements match", markup=False)
        return
    _table(
        None,
        ["structure", "element", "name", "status", "phases", "materials"],
        [
            [h.structure_id, h.element_id, h.name, h.status,
             ", ".join(f"{p.id} ({p.date})" + ("*" if p.id in h.matched_phases else "") for p in h.phases),
             ", ".join(m.label for m in h.materials)]
            for h in hits
        ],
    )
    if any(h.matched_phases for h in hits):
        out.print("* the phases that matched", markup=False)


def _value(value) -> str:
    import json  # noqa: PLC0415

    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def _table(title: str | None, columns: list[str], rows: list[list]) -> None:
    from rich.table import Table  # noqa: PLC0415
    from rich.text import Text  # noqa: PLC0415

    t = Table(title=title)
    for i, column in enumerate(columns):
        # ids in the first column stay whole; other cells wrap rather than lose text
        if i == 0:
            t.add_column(column, no_wrap=True, min_width=max([len(column)] + [len(str(r[0])) for r in rows]))
        else:
            t.add_column(column, overflow="fold")
    for r in rows:
        t.add_row(*(Text(str(v)) for v in r))  # plain text: dates like [1667, 1668] are not markup
    out.print(t)


@app.command("suggest")
def suggest(
    structure: StructureArg,
    out_file: Annotated[Path, typer.Option("--out", "-o", help="Draft layer file to write (YAML); its figures go "
                                      "beside it as <stem>.figures.json.")],
    survey: Annotated[str | None, typer.Option(
        "--survey", help="Survey whose latest model to segment (default: the latest survey with a model).")] = None,
    merge_into: Annotated[Path | None, typer.Option(
        "--merge-into", help="A layer file to keep as it is: only elements its regions do not already cover "
                             "are added.")] = None,
    max_points: Annotated[int | None, typer.Option(
        "--max-points", min=10_000, help="Thin the cloud to at most this many points (default 600,000).")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Suggest elements from the processed cloud: floor, platforms, walls, columns, roof planes.

    Segments the latest model's cloud (a thinned copy) into planes and vertical cylinders
    and writes a draft layer file with suggested ids (floor-1, wall-north, column-07,
    roof-south), a region each, no phases or materials, and each element's figures in its
    description (fit residual, confidence; a column's axis, radius, lean and diameter per
    0.5 m; a wall's out-of-plane deviation). Review it, then add phases and materials and
    record it with `twin layers set`.

    Example: twin layers suggest thai-hoa-palace --survey 2025-03 --out draft.yaml
    """
    from twin.catalog.workspace import Workspace  # noqa: PLC0415
    from twin.suggest import suggest_for_survey  # noqa: PLC0415

    report = suggest_for_survey(Workspace.open(workspace), structure, survey, out_file, merge_into=merge_into,
                                max_points=max_points)
    if as_json:
        from dataclasses import asdict  # noqa: PLC0415

        print_json(asdict(report))
        return
    out.print(
        f"{structure}/{report.survey_id}: {len(report.elements)} elements suggested from model "
        f"{report.model_key[:12]} ({report.input_points} points, thinned to {report.thinned_points} at "
        f"{report.voxel_m * 100:.1f} cm) -> {report.out}",
        markup=False,
    )
    _table(None, ["element", "kind", "points", "fit RMS mm", "confidence"],
           [[e["id"], e["kind"], e["points"], "-" if e["fit_rms_mm"] is None else e["fit_rms_mm"], e["confidence"]]
            for e in report.elements])
    if report.kept:
        out.print(f"kept {len(report.kept)} elements of {merge_into}; not proposed (already covered): "
                  + (", ".join(e["id"] for e in report.not_proposed) or "none"), markup=False)

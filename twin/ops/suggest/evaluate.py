"""How suggested elements meet other labels: a sample's truth (point-level IoU per class,
each suggested element counted for the truth class most of its points carry; columns'
axis and radius errors) and an existing layer file (the share of each candidate's points
its regions already cover, for ``--merge-into``)."""

from __future__ import annotations

import math

import numpy as np

AXIS_TOL = 0.02  # m: a column is found when the axis is this close at its bottom and top
RADIUS_TOL = 0.01  # m, and its radius this close
CLASSES = ["floor", "platform", "stairs", "wall", "column", "roof"]
COVERED = 0.5  # a candidate whose points lie this much inside existing regions is not proposed (--merge-into)


def class_iou(truth_class: np.ndarray, draft_element: np.ndarray, classes: list[str]) -> dict[str, dict]:
    """IoU per class over the points with a truth class.

    ``truth_class``: the true class of each point ("" unknown: left out); ``draft_element``:
    the draft element id labelling each point ("" none). A draft element stands for the
    truth class that most of its points carry; a class's suggested points are those of the
    elements standing for it.
    """
    known = truth_class != ""
    t, e = truth_class[known], draft_element[known]
    stands_for: dict[str, str] = {}
    for element in np.unique(e):
        if element == "":
            continue
        values, counts = np.unique(t[e == element], return_counts=True)
        stands_for[str(element)] = str(values[np.argmax(counts)])
    suggested_class = np.array([stands_for.get(str(x), "") for x in e], dtype=object)
    out = {}
    for c in classes:
        tt, pp = t == c, suggested_class == c
        union = int(np.count_nonzero(tt | pp))
        out[c] = {"iou": float(np.count_nonzero(tt & pp) / union) if union else float("nan"),
                  "truth_points": int(np.count_nonzero(tt)), "suggested_points": int(np.count_nonzero(pp)),
                  "elements": sorted(k for k, v in stands_for.items() if v == c)}
    return out


def column_errors(candidates, truth: list[tuple[np.ndarray, np.ndarray, float]]) -> list[dict]:
    """For each true column (bottom, top, radius; world), the nearest suggested column and
    its errors: the axis's largest horizontal offset at the true column's bottom and top
    heights, and the radius difference."""
    found = [c for c in candidates if c.kind == "column"]
    out = []
    for bottom, top, radius in truth:
        if not found:
            out.append({"found": None, "axis_m": math.inf, "radius_m": math.inf})
            continue

        def axis_error(c):
            b, t = np.array(c.figures["axis_bottom"]), np.array(c.figures["axis_top"])

            def at(z):
                return b[:2] + (t[:2] - b[:2]) * (z - b[2]) / (t[2] - b[2])

            return max(np.hypot(*(at(bottom[2]) - bottom[:2])), np.hypot(*(at(top[2]) - top[:2])))

        best = min(found, key=axis_error)
        out.append({"found": best, "axis_m": float(axis_error(best)),
                    "radius_m": float(best.figures["radius_m"] - radius)})
    return out


def columns_ok(errors: list[dict]) -> tuple[float, list[dict]]:
    """The share of true columns found within AXIS_TOL and RADIUS_TOL, and those."""
    good = [e for e in errors if e["axis_m"] <= AXIS_TOL and abs(e["radius_m"]) <= RADIUS_TOL]
    return len(good) / len(errors), good


def draft_ious(suggestion, xyz_world: np.ndarray, truth_class: np.ndarray) -> dict:
    """The draft's regions applied to every point, scored per class against the truth."""
    from twin.layers.draft import draft_layers  # noqa: PLC0415
    from twin.models.layers import LayerFile  # noqa: PLC0415
    from twin.ops.labelling import compile_layers, label_points  # noqa: PLC0415

    data = draft_layers(suggestion.candidates, title="test", sources=["synthetic scan"])
    compiled = compile_layers(LayerFile.model_validate(data))
    labels = label_points(compiled, xyz_world - suggestion.thinned.origin, suggestion.thinned.origin)
    ids = np.array(compiled.element_ids, dtype=object)
    element = np.where(labels >= 0, ids[np.maximum(labels, 0)], "")
    return class_iou(truth_class, element, CLASSES)


def covered_shares(existing: LayerFile, candidates: list[Candidate], xyz: np.ndarray, origin: np.ndarray) -> list[float]:
    """For each candidate, the share of its points that the existing regions already label."""
    from twin.ops.labelling import compile_layers, label_points  # noqa: PLC0415

    compiled = compile_layers(existing)
    labels = label_points(compiled, xyz, origin)
    # a candidate without points (an open doorway) is covered where its region's centre is
    centres = np.array([_centre(c.region) for c in candidates]) - origin if candidates else np.zeros((0, 3))
    at_centre = label_points(compiled, centres, origin) if len(centres) else np.zeros(0, dtype=np.int64)
    return [float(np.mean(labels[c.index] >= 0)) if len(c.index) else float(at_centre[k] >= 0)
            for k, c in enumerate(candidates)]


def _centre(region: dict) -> list[float]:
    """A region's middle (world): an oriented box's centre, or a prism's footprint mean at mid-height."""
    if "oriented_box" in region:
        return list(region["oriented_box"]["center"])
    xy = np.asarray(region["polygon"], dtype=np.float64).mean(axis=0)
    return [float(xy[0]), float(xy[1]), (region["z_min"] + region["z_max"]) / 2]

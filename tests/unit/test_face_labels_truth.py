"""Face labels against the sample's truth (issue 15.2): the scoring helper the e2e test uses
on every mesh level, and the sample's courtyard region, which must hold the paving's points
wherever a registration within tolerance puts them without taking the points of what stands
on the paving."""

from __future__ import annotations

from pathlib import Path

import laspy
import numpy as np
import pytest

from twin.layers import load_layers
from twin.models.mesh import TriMesh
from twin.ops.labelling import compile_layers, label_points
from twin.sample import LAYERS_FILE, load_truth, load_truth_mesh
from twin.sample.evaluate import face_label_scores
from twin.sample.layers import GROUND_ABOVE, GROUND_BELOW

PAVILION = Path(__file__).resolve().parents[2] / "sample_scans" / "pavilion"
ON_SURFACE = 0.01  # m


@pytest.fixture(scope="module")
def truth():
    return load_truth(PAVILION / "truth" / "ground_truth.json")


@pytest.fixture(scope="module")
def compiled():
    return compile_layers(load_layers(PAVILION / LAYERS_FILE))


@pytest.fixture(scope="module")
def scan(truth):
    """survey-2024's points at their stations' true poses (UTM), with the element of the
    true surface each lies on ("" farther than ON_SURFACE from it)."""
    survey = truth.survey("survey-2024")
    points = np.concatenate([
        st.to_utm(np.column_stack([las.x, las.y, las.z]))
        for st in survey.stations for las in [laspy.read(truth.path(st.file))]
    ])
    distance, element = load_truth_mesh(truth, "survey-2024").closest(points)
    true = np.array(truth.element_ids(), dtype=object)[element]
    true[distance >= ON_SURFACE] = ""
    return points, true


def _names(compiled, points, truth):
    labels = label_points(compiled, points - truth.origin, truth.origin)
    return np.array([*compiled.element_ids, "-"], dtype=object)[labels]


def test_the_courtyard_is_a_slab_round_the_paving_larger_than_every_region_it_overlaps(compiled, truth):
    (courtyard,) = [r for r in compiled.regions if compiled.element_ids[r.element] == "courtyard"]
    paving = truth.origin[2]  # the sample's paving is level, at the local frame's zero
    assert courtyard.lo[2] == pytest.approx(paving - GROUND_BELOW) and courtyard.hi[2] == pytest.approx(
        paving + GROUND_ABOVE)
    overlapping = [compiled.element_ids[r.element] for r in compiled.regions if r is not courtyard
                   and np.all(r.lo <= courtyard.hi) and np.all(courtyard.lo <= r.hi)]
    assert {"platform", "steps-south", "steps-east", "annex", "stele", "urn", "planter-1"} <= set(overlapping)
    for r in compiled.regions:  # the smaller region wins: each keeps its own points
        if r is not courtyard and np.all(r.lo <= courtyard.hi) and np.all(courtyard.lo <= r.hi):
            assert r.volume < courtyard.volume, compiled.element_ids[r.element]


@pytest.mark.parametrize("dz", [-0.02, -0.01, 0.0, 0.01, 0.02])
def test_the_paving_is_courtyard_wherever_a_registration_puts_it(compiled, truth, scan, dz):
    """A station registered within tolerance (0.05°) tilts the paving by up to 1.7 cm at 20 m:
    the paving's points moved up or down by 2 cm are still courtyard (the old 1 cm slab:
    none of them). Those within a centimetre of the platform, the steps, the annex and the
    objects belong to their regions (under 1 %)."""
    points, true = scan
    paving = points[true == "courtyard"] + [0.0, 0.0, dz]
    assert len(paving) > 100_000
    assert np.mean(_names(compiled, paving, truth) == "courtyard") > 0.99


def test_what_stands_on_the_paving_keeps_its_points(compiled, truth, scan):
    """The points within 5 cm of the paving on the platform, the steps, the annex, the stele,
    the urn and the shrubs carry their own element, not the courtyard's (the old slab gave
    8 % of the platform's and 6 % of the annex's to the courtyard, smaller than both)."""
    points, true = scan
    low = (true != "") & (true != "courtyard") & (points[:, 2] < truth.origin[2] + 0.05)
    got = _names(compiled, points[low], truth)
    elements = sorted(set(true[low]))
    assert {"platform", "annex", "steps-south", "steps-east", "stele", "urn"} <= set(elements)
    for element in elements:
        on = true[low] == element
        assert np.mean(got[on] == element) >= 0.99, (element, on.sum())
        assert not np.any(got[on] == "courtyard"), element


def test_face_label_scores_counts_unassigned_and_wrong_faces(compiled, truth):
    """The truth's own triangles as a mesh (each face's nearest true surface is itself),
    labelled through the model legend's ids (groups included): all right, then some faces
    unassigned and some given a neighbour's element."""
    true_mesh = load_truth_mesh(truth, "survey-2024")
    ids = truth.element_ids()
    keep = np.isin(true_mesh.element_index, [ids.index(e) for e in ("column-A1", "column-D6", "stele")])
    mesh = TriMesh(true_mesh.vertices, true_mesh.triangles[keep], true_mesh.origin)
    legend = list(compiled.element_ids)
    element = np.array([legend.index(ids[i]) for i in true_mesh.element_index[keep]])

    right = face_label_scores(mesh, element, legend, truth, "survey-2024", true_mesh=true_mesh)
    assert right.faces == mesh.n_faces == right.on_truth == right.labelled_on_truth
    assert right.labelled == 1.0 and right.correct == 1.0 and not right.confusions

    rng = np.random.default_rng(0)
    order = rng.permutation(mesh.n_faces)
    unassigned, wrong = order[: mesh.n_faces // 10], order[mesh.n_faces // 10: mesh.n_faces // 10 + 20]
    changed = element.copy()
    changed[unassigned] = -1
    changed[wrong] = legend.index("steps-east")
    scores = face_label_scores(mesh, changed, legend, truth, "survey-2024", true_mesh=true_mesh)
    assert scores.labelled == pytest.approx(1 - len(unassigned) / mesh.n_faces)
    assert scores.labelled_on_truth == mesh.n_faces - len(unassigned)
    assert scores.correct == pytest.approx(1 - len(wrong) / scores.labelled_on_truth)
    assert sum(n for k, n in scores.confusions.items() if k.endswith("-> -")) == len(unassigned)
    assert sum(n for k, n in scores.confusions.items() if k.endswith("-> steps-east")) == len(wrong)
    assert scores.wrong_touching == 0.0  # the east steps stand metres from the columns and the stele
    with pytest.raises(ValueError, match="face labels"):
        face_label_scores(mesh, changed[:-1], legend, truth, "survey-2024", true_mesh=true_mesh)

"""A group of stations placed right among themselves but turned as one against the
others is searched again as one cloud and moved back (twin.ops.registration.assembly).
Six real lion scans had three such scans 175 degrees off (seed 3 of the lion test)."""

from __future__ import annotations

import dataclasses

import numpy as np

from twin.models.pointcloud import PointCloud
from twin.ops.registration.assembly import regroup, spanning_cuts
from twin.ops.registration.coarse import candidate_pairs, search_pair
from twin.ops.registration.station import up_direction
from twin.ops.registration.results import rotation_angle_deg, translation
from twin.ops.registration.settings import RegistrationSettings, measure_scale, resolve
from twin.ops.registration.station import make_station
from twin.sample.scenes import generate_scene, truth_relative


def _statue():
    scene = generate_scene("statue", 1, points_per_station=20_000)
    stations = [make_station(st.name, PointCloud(st.xyz), None) for st in scene.stations]
    settings = resolve(RegistrationSettings(), measure_scale([s.spacing for s in stations],
                                                             [s.extent for s in stations]))
    truth = [translation(-stations[0].centre) @ t @ translation(s.centre)
             for t, s in zip(truth_relative(scene, 0), stations, strict=True)]
    return stations, settings, truth


def _errors(poses, truth):
    return [rotation_angle_deg(np.linalg.inv(t) @ p) for p, t in zip(poses, truth, strict=True)]


def test_a_group_turned_as_one_is_moved_back_and_a_right_placement_stays():
    stations, settings, truth = _statue()
    assert len(stations) >= 4
    # the group the tree hangs below one edge, turned 180 degrees about the statue's
    # vertical axis (through the reference's centre): right among themselves, wrong
    # against the others
    side = max(spanning_cuts(stations, truth, 0, settings), key=len)
    assert 2 <= len(side) <= len(stations) - 1
    half_turn = np.diag([-1.0, -1.0, 1.0, 1.0])
    wrong = [half_turn @ t if k in side else t for k, t in enumerate(truth)]
    assert min(_errors(wrong, truth)[k] for k in side) > 170.0

    mended = regroup(stations, wrong, 0, settings)
    # measured: every station within 0.07 degrees and 0.72 units of the truth (the
    # union search and its settling ICP, before any fine stage)
    assert max(_errors(mended, truth)) < 1.0, _errors(mended, truth)
    assert max(np.linalg.norm((np.linalg.inv(t) @ p)[:3, 3]) for p, t in zip(mended, truth, strict=True)) < 2 * settings.unit

    kept = regroup(stations, truth, 0, settings)
    assert all(np.array_equal(k, t) for k, t in zip(kept, truth, strict=True))


def test_a_union_search_that_misses_is_tried_again_with_another_seed(monkeypatch):
    """RANSAC over feature matches misses now and then: a clean clone's CI once left the
    statue's four turned scans 180 degrees off where this machine mended them (one seed in
    six finds no right placement between the two unions). A group that barely touches the
    rest as placed is searched again; here every first search of a cut misses."""
    from twin.ops.registration import assembly  # noqa: PLC0415

    stations, settings, truth = _statue()
    side = [k for k in range(1, len(stations))]
    half_turn = np.diag([-1.0, -1.0, 1.0, 1.0])
    wrong = [half_turn @ t if k in side else t for k, t in enumerate(truth)]
    seeds = []

    def missing_first(group, others, i, j, settings_, seed, conflict_of=None):
        seeds.append(seed)
        search = search_pair(group, others, i, j, settings_, seed, conflict_of)
        if seed - settings_.seed < 7907:  # the first try of its cut (later ones add 7907 a try)
            return dataclasses.replace(search, accepted=False, best=None)
        return search

    monkeypatch.setattr(assembly, "search_pair", missing_first)
    mended = regroup(stations, wrong, 0, settings)
    assert max(_errors(mended, truth)) < 1.0, _errors(mended, truth)
    assert any(s - settings.seed >= 7907 for s in seeds)


def test_a_hall_half_turned_in_part_is_turned_back_by_what_the_scanners_saw_through():
    """A hall fits itself turned half a turn about its middle: half its stations so placed
    overlap the others about as well as at the truth. What tells them apart is visibility:
    turned, their walls stand where the other scanners saw through (judged member by
    member, since a union of stations has no one scanner)."""
    scene = generate_scene("hall", 0, points_per_station=30_000)
    stations = [make_station(st.name, PointCloud(st.xyz), st.scanner) for st in scene.stations]
    settings = resolve(RegistrationSettings(), measure_scale([s.spacing for s in stations],
                                                             [s.extent for s in stations]))
    truth = [translation(-stations[0].centre) @ t @ translation(s.centre)
             for t, s in zip(truth_relative(scene, 0), stations, strict=True)]
    side = max(spanning_cuts(stations, truth, 0, settings), key=len)
    assert 2 <= len(side) <= len(stations) - 1
    # the hall's middle in the reference's centred frame: the centre of the plan box of
    # every station's points placed by the truth
    placed = np.concatenate([s.points[::50] @ t[:3, :3].T + t[:3, 3] for s, t in zip(stations, truth, strict=True)])
    middle = (placed.min(axis=0) + placed.max(axis=0)) / 2.0
    half_turn = translation([middle[0], middle[1], 0.0]) @ np.diag([-1.0, -1.0, 1.0, 1.0]) @ translation(
        [-middle[0], -middle[1], 0.0])
    wrong = [half_turn @ t if k in side else t for k, t in enumerate(truth)]

    # levelled frames: no union search; the pair searches across the cut (as the coarse
    # search made them) offer the placements
    # as in a levelled survey (the sample's): no union search, only the placements the
    # pair searches across the cut found (S3 here sees walls facing one way only, so its
    # frame counts as upright, not levelled, and a real run adds the union search)
    for s in stations:
        up_direction(s, settings)
        s.levelled = True
    rest = [k for k in range(len(stations)) if k not in side]
    searches = [search_pair(stations[i], stations[j], i, j, settings, settings.seed + 31 * i + j)
                for i, j in candidate_pairs(len(stations), settings) if (i in side) != (j in side)]
    assert len(searches) == len(side) * len(rest)
    mended = regroup(stations, wrong, 0, settings, searches)
    errors = _errors(mended, truth)
    print("hall, after regroup: degrees off the truth", [round(e, 3) for e in errors],
          "metres", [round(float(np.linalg.norm((np.linalg.inv(t) @ p)[:3, 3])), 3) for p, t in zip(mended, truth, strict=True)])
    # measured: every station within 0.093 degrees and 42 mm of the truth before any fine
    # stage (the same with the union search added); with the conflict left out
    # (_member_conflict returning None) the three stay 180 degrees off
    assert max(errors) < 1.0, errors


def test_every_station_alone_and_all_but_the_reference_are_cuts_too():
    """A reference the tree makes a hub, right while every other station stands on one
    symmetric twin, is cut from them by no single tree edge."""
    stations, settings, truth = _statue()
    n = len(stations)
    cuts = spanning_cuts(stations, truth, 0, settings)
    assert [k for k in range(1, n)] in cuts
    assert all([k] in cuts for k in range(1, n))
    assert all(0 not in side for side in cuts)
    assert len({tuple(side) for side in cuts}) == len(cuts)


def test_a_better_score_from_conflict_noise_alone_moves_nothing():
    """Measured on the sample's survey-2024: the union of S2 and S3 scored better 27 cm
    off its right placement by a conflict of 1.5 % against 1.8 %, with the overlap up
    by 0.03 only. A move needs the overlap clearly up, or a placement that conflicts
    outright."""
    from twin.ops.registration.assembly import outweighs  # noqa: PLC0415
    from twin.ops.registration.coarse import Candidate  # noqa: PLC0415

    settings = resolve(RegistrationSettings(), measure_scale([0.02], [22.0]))
    placed = Candidate(np.eye(4), 0.324, 0.018, 0.324 - settings.conflict_weight * 0.018)
    noise = Candidate(np.eye(4), 0.356, 0.015, 0.356 - settings.conflict_weight * 0.015)
    assert noise.score > placed.score and not outweighs(noise, placed, settings)
    assert outweighs(Candidate(np.eye(4), 0.41, 0.0, 0.41), Candidate(np.eye(4), 0.17, 0.0, 0.17), settings)
    twin = Candidate(np.eye(4), 0.45, settings.max_conflict + 0.1, -1.0)
    assert outweighs(Candidate(np.eye(4), 0.45, 0.01, 0.35), twin, settings)

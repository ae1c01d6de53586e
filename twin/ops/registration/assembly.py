"""The coarse placement judged in groups: a set of stations placed right among
themselves but wrong against the rest is searched again as one cloud.

The coarse search places stations one at a time from pairwise candidates
(``coarse.coarse_poses``), and ``coarse.reconsider`` moves a station alone. Neither
can mend a *group* turned as one: on six real scans of a lion statue (no scanner
positions, smooth and near-symmetric surfaces) three scans were placed right among
themselves and right among the other three, but the two halves 175 degrees apart,
because no pair of scans across the halves had a right candidate among its feature
matches. The union of each half has far more surface, and the search between the two
unions found the truth at once (overlap 0.41 against 0.17 as placed).

So: a maximum spanning tree over the overlaps of the stations as placed; each of its
edges cut in turn splits the survey in two, and so does each station alone; the side
without the reference is judged against the other side, each side one station made of
its members' points as placed, at the placements the pair searches across the cut
offered and (where the frames are not all levelled) at the best one a search between
the two unions finds, and moved as a whole where one scores clearly better. The score is the coarse search's (overlap less
the weighted visibility conflict), the conflict judged member by member since a union
has no one scanner.

"Clearly better" asks more than a better score: the overlap must grow by BETTER_BY, or
the placement replaced must conflict outright. On the sample pavilion's survey-2024 the
union of S2 and S3 scored better 0.3 degrees and 27 cm off its right placement (overlap
0.356 against 0.324, the conflict 1.5 % against 1.8 %: noise), and a clean clone's CI
caught it when the score alone decided.

A move is kept only where it also lowers the survey's truncated least-squares cost
(``quality.misfit``, which chooses between the fine stages' poses too). The coarse
scores judge a group by its overlap with the rest and the worst conflict of any member
pair, and on a long colonnade both can point the wrong way: on a generated hall of 20
stations (seed 3, 30k points a station), six stations placed 4.2 m along the
colonnade made a group of twelve conflict, the group moved to where it barely touched
the rest (overlap 0.47 to 0.15), and a station left behind then took its 180-degree
twin: the cost rose from 0.313 to 0.466 (the truth: 0.228).
"""

from __future__ import annotations

import numpy as np

from twin.ops.registration.coarse import (
    candidate_pairs,
    distinct,
    judge,
    linkable,
    overlapping_conflict,
    search_pair,
)
from twin.ops.registration.fine import pair_overlap
from twin.ops.registration.quality import misfit
from twin.ops.registration.results import translation
from twin.ops.registration.settings import RegistrationSettings, robust_extent
from twin.ops.registration.station import Station, arrays

BETTER_BY = 0.05  # overlap share a group's new placement must gain over the one it has...
BETTER_RATIO = 1.25  # ... and this factor of it
MAX_MOVES = 3  # groups moved at most, each followed by a new tree
UNION_TRIES = 3  # union searches (seeds) for a group that overlaps the rest under a link's share


def spanning_cuts(stations: list[Station], poses: list[np.ndarray], reference: int,
                  settings: RegistrationSettings) -> list[list[int]]:
    """The sides (without the reference) of every edge of a maximum spanning tree over
    the stations' pairwise overlaps as placed (the pairs the coarse search tried), the
    weakest edge's side first."""
    n = len(stations)
    weight = np.zeros((n, n))
    for i, j in candidate_pairs(n, settings):
        rel = np.linalg.inv(poses[j]) @ poses[i]
        weight[i, j] = weight[j, i] = pair_overlap(stations[i], stations[j], rel, settings)
    in_tree, edges = {reference}, []
    while len(in_tree) < n:
        i, j = max(((i, j) for i in in_tree for j in range(n) if j not in in_tree), key=lambda e: weight[e])
        edges.append((weight[i, j], i, j))
        in_tree.add(j)
    children = {k: [] for k in range(n)}
    for _, parent, child in edges:
        children[parent].append(child)

    def below(k: int) -> list[int]:
        out, todo = [], [k]
        while todo:
            out.append(todo.pop())
            todo += children[out[-1]]
        return sorted(out)

    cuts = [below(child) for _, _, child in sorted(edges)]
    # Each station alone against the rest, too (for the reference: the rest moved
    # against it): a station the tree made a hub, placed right while its neighbours
    # all stand on one symmetric twin, is cut from none of them by a single edge.
    singles = [[k] for k in range(n) if k != reference] + [[k for k in range(n) if k != reference]]
    return cuts + [c for c in singles if c not in cuts]


def union_station(name: str, members: list[Station], poses: list[np.ndarray], settings: RegistrationSettings) -> Station:
    """One station made of the members' points, each moved by its pose (no scanner: a
    union has several). Where every member's scanner is known, its levels are made of the
    members' levels (normals oriented to each member's scanner, not propagated again over
    the union: most of this step's time on the sample pavilion), and its points, which
    then give only its centre and extent, are the coarse search's; else they are the
    check scale's, from which its levels are made (a generated statue's turned half was
    not found again from the coarse search's)."""
    signed = all(st.scanner is not None for st in members)
    voxel = settings.coarse_voxel if signed else settings.check_voxel
    points = np.concatenate([arrays(st, voxel)[0] @ p[:3, :3].T + p[:3, 3]
                             for st, p in zip(members, poses, strict=True)])
    lo, hi = points.min(axis=0), points.max(axis=0)
    centre = (lo + hi) / 2.0
    points = points - centre
    union = Station(name, centre, None, points, spacing=min(st.spacing for st in members),
                    extent=robust_extent(points))
    if signed:
        union.parts = [(st, translation(-centre) @ p) for st, p in zip(members, poses, strict=True)]
    return union


def _member_conflict(side: list[int], rest: list[int], stations: list[Station], poses: list[np.ndarray],
                     group: Station, others: Station):
    """How a placement of the union ``group`` on the union ``others`` is judged for
    visibility: a union has no one scanner, so by its members, as the greedy placement
    judges a station against those placed (the worst conflict of a member of one side
    with a member of the other that it overlaps). None where no scanner is known."""
    if all(stations[k].scanner is None for k in side + rest):
        return None

    def conflict_of(_group: Station, _others: Station, transform: np.ndarray, settings: RegistrationSettings) -> float:
        move = translation(others.centre) @ transform @ translation(-group.centre)
        return max(overlapping_conflict(stations[a], stations[b], np.linalg.inv(poses[b]) @ move @ poses[a], settings)
                   for a in side for b in rest)

    return conflict_of


def outweighs(best, current, settings: RegistrationSettings) -> bool:
    """Whether a group's new placement wins on evidence beyond the measures' noise: it
    overlaps the rest clearly more, or the placement it replaces conflicts outright."""
    return best.overlap >= current.overlap + BETTER_BY or current.conflict > settings.max_conflict


def _offered(side: list[int], poses: list[np.ndarray], searches, settings: RegistrationSettings) -> list[np.ndarray]:
    """Corrections (reference frame) that move ``side`` as one to where a pair search
    across the cut put one of its stations: each linkable candidate of every pair with
    one station on each side. A symmetric twin that fitted one pair as well as the truth
    leaves the truth among that pair's candidates; a whole group placed on the twin is
    found again from them without a new search (a generated octagonal tower whose five
    stations stood 45 degrees from the reference's, every one consistent with the others)."""
    out = []
    for s in searches:
        if (s.source in side) == (s.target in side):
            continue
        mover, fixed = (s.source, s.target) if s.source in side else (s.target, s.source)
        for cand in linkable(s.candidates, settings):
            rel = cand.transform if mover == s.source else np.linalg.inv(cand.transform)
            out.append(poses[fixed] @ rel @ np.linalg.inv(poses[mover]))
    return out


def regroup(stations: list[Station], poses: list[np.ndarray], reference: int,
            settings: RegistrationSettings, searches=()) -> list[np.ndarray]:
    """``poses`` with any group of stations placed clearly better elsewhere, by a pair
    search's candidate or by a search between unions, moved as one (see the module
    docstring)."""
    poses = [p.copy() for p in poses]
    n = len(stations)
    if n < 3:
        return poses
    # Levelled frames: the plan searches between pairs already offer the group's right
    # placement (a generated hall's half turned 180 degrees: back within 0.093 degrees and
    # 42 mm from them alone, the unit test), and a union search per cut doubled the
    # sample's registration (about 36 to 79 s a survey on two cores) without moving
    # anything. Objects need it: no pair across the lion's halves had a right candidate.
    union_search = not all(st.levelled for st in stations)
    cost = misfit(stations, poses, settings)
    for _ in range(MAX_MOVES):
        moved = False
        for side in spanning_cuts(stations, poses, reference, settings):
            rest = [k for k in range(n) if k not in side]
            offered = _offered(side, poses, searches, settings)
            if not offered and not union_search:
                continue
            group = union_station("group", [stations[k] for k in side], [poses[k] for k in side], settings)
            others = union_station("others", [stations[k] for k in rest], [poses[k] for k in rest], settings)
            as_placed = translation(-others.centre) @ translation(group.centre)
            conflict_of = _member_conflict(side, rest, stations, poses, group, others)
            current = judge(group, others, as_placed, settings, conflict_of)
            bar = max(current.score + BETTER_BY, BETTER_RATIO * current.score)
            options = []
            for correction in offered:
                transform = translation(-others.centre) @ correction @ translation(group.centre)
                if not distinct(transform, as_placed, settings):
                    continue
                # the score is at most the overlap: judge the visibility only where it could win
                overlap = pair_overlap(group, others, transform, settings)
                if overlap >= bar:
                    options.append(judge(group, others, transform, settings, conflict_of, overlap))
            if union_search:
                # RANSAC over feature matches misses now and then (one seed in six on a
                # generated statue turned as a group, and which one depends on the
                # machine's floating point): a group that barely touches the rest as
                # placed is searched again with other seeds until a placement would win
                tries = UNION_TRIES if current.overlap < settings.min_edge_fitness else 1
                for attempt in range(tries):
                    search = search_pair(group, others, 0, 1, settings,
                                         settings.seed + 97 * len(side) + side[0] + 7907 * attempt, conflict_of)
                    if search.accepted and search.best is not None:
                        options.append(search.best)
                        if search.best.score >= bar and outweighs(search.best, current, settings):
                            break
            winners = [c for c in options if c.score >= bar and outweighs(c, current, settings)
                       and distinct(c.transform, as_placed, settings)]
            if not winners:
                continue
            best = max(winners, key=lambda c: c.score)
            correction = translation(others.centre) @ best.transform @ translation(-group.centre)
            trial = [correction @ p if k in side else p for k, p in enumerate(poses)]
            trial_cost = misfit(stations, trial, settings)
            if trial_cost >= cost:
                continue
            poses, cost, moved = trial, trial_cost, True
            break
        if not moved:
            break
    return poses

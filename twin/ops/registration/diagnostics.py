"""Messages for a station that cannot be placed: which links were tried, each one's
figures and why it was dropped, and what to do about it. The threshold a message
quotes is the one the figure it quotes was compared with."""

from __future__ import annotations

from twin.ops.registration.coarse import PairSearch
from twin.ops.registration.settings import RegistrationSettings, shares

FIXES = ("give the station a pose in its file (E57 poses are used), rescan with more overlap with its neighbours, "
         "or, in a copy of the pipeline, lower register.min_overlap if the overlap really is that small or raise "
         "register.max_conflict where vegetation or traffic moved between the scans")


def unplaced(name: str, index: int, searches: list[PairSearch], names: list[str],
             settings: RegistrationSettings, reference: str) -> str:
    """Why no accepted chain of links reaches ``name`` from the reference station."""
    tried = [s for s in searches if index in (s.source, s.target)]
    parts = []
    for s in sorted(tried, key=lambda s: -(s.best.score if s.best else -1.0)):
        other = names[s.target if s.source == index else s.source]
        if s.accepted:
            parts.append(f"{other}: overlap {s.best.overlap:.0%}, accepted, but {other} itself is not linked to "
                         f"{reference}")
        else:
            parts.append(f"{other}: {s.reason} ({s.search} search, {s.tried} candidates)")
    if not parts:
        parts.append("no other station was searched against it (acquisition-order pairs only beyond "
                     f"{settings.max_candidate_pairs_all} stations)")
    return f"{name} could not be placed: links tried: " + "; ".join(parts) + f". Fix: {FIXES}"


def misfit_after(name: str, fitness: float, rmse: float, settings: RegistrationSettings) -> str | None:
    """Why a placed station is refused after the global optimisation, or None."""
    if fitness < settings.min_station_fitness:
        shown, limit = shares(fitness, settings.min_station_fitness)
        return (f"{name} could not be aligned: after optimisation {shown} of its points lie within "
                f"{settings.check_distance * 1000:.1f} mm of the other stations, under the "
                f"{limit} needed (register.min_fitness). Fix: {FIXES}")
    if not rmse <= settings.rmse_limit:
        shown = "no point within reach" if rmse == float("inf") else f"{rmse * 1000:.2f} mm"
        return (f"{name} could not be aligned: point-to-plane RMSE against the other stations is {shown}, "
                f"above the {settings.rmse_limit * 1000:.2f} mm allowed "
                f"({settings.max_station_rmse / settings.unit:.1f} x the working unit "
                f"{settings.unit * 1000:.1f} mm). Fix: check that the scan belongs to this survey, or {FIXES}")
    return None

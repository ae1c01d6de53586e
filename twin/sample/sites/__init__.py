"""Generated sites: N pavilion-like buildings on one site, scanned in one survey, for
survey-scale work (``twin sample --buildings N``).

- ``generate_site(out, buildings=N, stations=K, points=P)``: stream the stations to
  ``out/site`` and write every building's truth; returns the ``Site`` record.
- ``load_site(path)``: read ``site.json`` (plots, footprints, station files); its
  ``building_truth(id)`` is that building's ``GroundTruth`` (twin.sample.truth).
- ``plan_site(N, seed)``: where the buildings stand, without writing anything.
"""

from twin.sample.sites.generate import generate_site
from twin.sample.sites.plan import BuildingPlan, plan_site
from twin.sample.sites.record import Site, SiteBuilding, load_site

__all__ = ["BuildingPlan", "Site", "SiteBuilding", "generate_site", "load_site", "plan_site"]

"""The report's glossary: the terms its tables and captions use, in plain words, and its
table of contents (made from the page's own headings)."""

from __future__ import annotations

import re

# (term, definition); the anchor of each is "term-" + its slug
TERMS: tuple[tuple[str, str], ...] = (
    ("Bundle error", "After all stations are adjusted together (the pose graph), the RMS over links of how far "
     "the link's own alignment and the adjusted poses place the source station's overlap points apart, in mm. "
     "A large bundle error means the links disagree with each other."),
    ("CIDOC-CRM, CRMba", "The ISO 21127 ontology of cultural heritage and its extension for buildings; an "
     "element's class (e.g. B2 Morphological Building Section) says what kind of part it is."),
    ("Core point", "A point of the earlier survey, thinned to a regular spacing, at which M3C2 measures a "
     "distance. Per-element figures count core points, not scan points."),
    ("Dublin Core", "The DCMI metadata terms (dcterms:title, creator, date, rights, ...) that describe the "
     "structure's record."),
    ("EDTF", "Extended Date/Time Format (ISO 8601-2): 1805 (a year), 1833~ (about 1833), 1920/1925 (an interval), "
     "199X (some year of the 1990s)."),
    ("Elevation, plan, section", "Orthographic drawings at a stated scale: an elevation looks horizontally at one "
     "side, the plan looks down, a section is a slice of given thickness (here 1.5 m above the lowest point)."),
    ("Fitness", "The share of a station's points (0 to 1) that have a point of the other stations within the check "
     "distance once every pose is final. Low fitness: the station overlaps little, or is misplaced."),
    ("Getty AAT", "The Getty Art & Architecture Thesaurus: each material is named by its AAT URI as well as its "
     "label."),
    ("Knowledge status", "After the London Charter: measured (seen in the scans), inferred (deduced from evidence), "
     "hypothetical (a reconstruction)."),
    ("Level of detection (LoD)", "The smallest change M3C2 can tell from noise at a core point, at 95 % confidence: "
     "1.96 × (√(σ₁²/n₁ + σ₂²/n₂) + registration error), where σ and n are the spread and number of each "
     "survey's points in the cylinder. A distance larger than its LoD is significant."),
    ("Loop closure", "A link outside the spanning tree joins two stations that the tree already places; the rotation "
     "and shift between its own alignment and the tree's chain is the loop's closure error."),
    ("M3C2", "Multiscale Model to Model Cloud Comparison (Lague, Brodu and Leroux 2013): the distance between two "
     "surveys along the local surface normal, measured as the difference of each survey's mean position in a "
     "cylinder around the normal through a core point. Positive: the later surface lies on the side the normal "
     "points to (outward, with twin's default orientation)."),
    ("Mesh level of detail", "A mesh decimated to a face budget (full, 1M, 200k, 50k faces in the default "
     "pipeline); the 3D view shows a small level, the elevations the finest."),
    ("Normal radius, cylinder", "M3C2's scales: the normal at a core point is fitted to the points within the "
     "normal radius; the distance averages the points within the cylinder radius, up to its half length along "
     "the normal."),
    ("Overlap", "For a link, the share of each station's points that the other station also saw (a point of the "
     "other within the check distance), given both ways: source / target."),
    ("Peak change", "The change of the largest supported neighbourhood of an element: at least five significant "
     "core points within 2.5 core spacings that agree within their levels of detection. A single core point never "
     "makes a peak."),
    ("PeriodO", "A gazetteer of scholarly definitions of historical periods; a phase may cite one by URI."),
    ("Phase", "A dated event in the structure's history (construction, reconstruction, restoration, repair); "
     "each element is coloured by the phase that built the fabric there."),
    ("Registration", "Bringing every scanner station's points into one frame: a coarse search, ICP on each link, "
     "then all stations adjusted together."),
    ("Registration error", "In a comparison, the uncertainty of the alignment between the two surveys, added to "
     "every level of detection."),
    ("RMS, RMSE", "Root mean square: the square root of the mean of the squared distances. For a link, of the "
     "point-to-plane distances between the two stations in their overlap; for a station, of its distances to "
     "the others (inlier RMSE). In mm."),
    ("Runner-up", "The best alignment of a station other than the one chosen, with its support; a runner-up almost "
     "as well supported as the choice means the registration was ambiguous."),
    ("Significant change", "A core point whose M3C2 distance exceeds its level of detection. Change maps colour "
     "only these; the rest are grey. \"Changed %\": the share of an element's core points in significant regions."),
    ("Spanning tree", "The links that place each station once from the reference station; the other links close "
     "loops and check them."),
    ("Spread", "The interquartile range of an element's trusted distances (from the 25th to the 75th percentile)."),
    ("Stable share", "In the survey-to-survey alignment, the share of points on elements marked stable, which alone "
     "drive the alignment."),
    ("Strength", "How well a link's overlapping surfaces fix a shift along X, Y and Z (1: fully, 0: not at all), from "
     "the point-to-plane equations with rotation left free. Two parallel walls alone leave the shift along them "
     "unfixed: strength near 0 on that axis."),
    ("Tolerance", "The distance a link's points should lie within (6 mm on a building, three point spacings on a "
     "small object); \"within tolerance\" is the share that do."),
)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def glossary_html() -> str:
    from twin.report import html as h  # noqa: PLC0415

    items = "".join(f'<dt id="term-{slug(term)}">{h.esc(term)}</dt><dd>{h.esc(text)}</dd>' for term, text in TERMS)
    return f'<h2 id="glossary">Glossary</h2><dl class="glossary">{items}</dl>'


_HEADING = re.compile(r"<h([23])((?:\s+id=\"[^\"]*\")?)>(.*?)</h\1>", re.S)
_TAG = re.compile(r"<[^>]+>")


def with_contents(body: str) -> tuple[str, str]:
    """Give every h2 and h3 of ``body`` an id (keeping those it has) and return the body and
    a table of contents (a nav of h2 entries, each with its h3s)."""
    used: set[str] = set()
    entries: list[tuple[int, str, str]] = []

    def name(match: re.Match) -> str:
        level, given, inner = int(match.group(1)), match.group(2), match.group(3)
        if given:
            anchor = re.search(r'id="([^"]*)"', given).group(1)
        else:
            base = slug(_TAG.sub("", inner))
            anchor, n = base, 2
            while anchor in used:
                anchor, n = f"{base}-{n}", n + 1
        used.add(anchor)
        entries.append((level, anchor, _TAG.sub("", inner)))
        return f'<h{level} id="{anchor}">{inner}</h{level}>'

    body = _HEADING.sub(name, body)
    out, open_sub = ['<nav class="toc" aria-label="contents"><b>Contents</b><ol>'], False
    for level, anchor, text in entries:
        if level == 2:
            if open_sub:
                out.append("</ol>")
                open_sub = False
            if out[-1] != '<nav class="toc" aria-label="contents"><b>Contents</b><ol>':
                out.append("</li>")
            out.append(f'<li><a href="#{anchor}">{text}</a>')
        else:
            if not open_sub:
                out.append("<ol>")
                open_sub = True
            out.append(f'<li><a href="#{anchor}">{text}</a></li>')
    if open_sub:
        out.append("</ol>")
    if entries:
        out.append("</li>")
    out.append("</ol></nav>")
    return body, "".join(out)

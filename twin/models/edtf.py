"""Extended Date/Time Format (EDTF, ISO 8601-2) for the dates heritage records carry.

The subset understood here, with what each form means as a pair of bounds:

========================  ===========================  ==================================
form                      example                      earliest … latest
========================  ===========================  ==================================
year                      ``1805``                     1805-01-01 … 1805-12-31
year-month                ``1805-03``                  1805-03-01 … 1805-03-31
date                      ``1805-03-12``               1805-03-12 … 1805-03-12
date and time             ``1805-03-12T10:00:00Z``     1805-03-12 … 1805-03-12
negative year             ``-0100``                    -0100-01-01 … -0100-12-31
long year                 ``Y170002``, ``Y-17000``     as the year
qualifiers                ``1833~`` ``1833?`` ``1833%``  as without; flags ``approximate``,
                          ``2004-06~-11`` ``?2004``    ``uncertain`` (``%`` sets both)
unspecified digits        ``19XX`` ``180X`` ``1985-XX``  every value the X could take:
                          ``156X-12-25`` ``1XXX-XX``   ``19XX`` → 1900-01-01 … 1999-12-31
season                    ``2001-21`` … ``2001-24``    spring Mar–May, summer Jun–Aug,
                          (and 25–41)                  autumn Sep–Nov, winter Dec–Feb
interval                  ``1920/1925``                start's earliest … end's latest
open / unknown end        ``1920/..`` ``../1925``      open (``..``) or unknown (empty)
                          ``1920/`` ``/1925``          ends are unbounded: ±infinity
set (one of / all of)     ``[1667, 1670..1672]``       the earliest … latest of members
                          ``{1667, 1668}``
========================  ===========================  ==================================

Qualifiers never widen the bounds: ``1833~`` spans the year 1833 and says the year is
approximate; a query for 1830–1833 finds it, one for 1834 does not. Seasons follow the
northern-hemisphere meteorological seasons for 21–24 and 25–28, the southern for 29–32;
33–36 are quarters, 37–39 quadrimesters (four months), 40–41 semesters (half years).

Bounds are ISO 8601 calendar dates (proleptic Gregorian; year 0000 is 1 BCE, ``-0001``
is 2 BCE, as in ISO 8601 and EDTF) and, for comparisons, integer day numbers counted from
1970-01-01 (:attr:`EDTF.lower`, :attr:`EDTF.upper`, ``±inf`` where an end is open or
unknown). Anything else — a malformed string, a month 13, 30 February, an interval whose
start is after its end, exponent or significant-digit years — raises ``ValueError`` with
the reason.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = ["EDTF", "parse_edtf", "day_number", "iso_date"]

_QUAL = "[?~%]"
_DATE = re.compile(
    rf"""^
    (?P<yq1>{_QUAL})?
    (?P<year>Y-?[0-9]{{5,}}|-?[0-9X]{{4}})
    (?P<yq2>{_QUAL})?
    (?:-(?P<mq1>{_QUAL})?(?P<month>[0-9X]{{2}})(?P<mq2>{_QUAL})?
       (?:-(?P<dq1>{_QUAL})?(?P<day>[0-9X]{{2}})(?P<dq2>{_QUAL})?
          (?P<time>T[0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}(?:\.[0-9]+)?(?:Z|[+-][0-9]{{2}}(?::?[0-9]{{2}})?)?)?
       )?
    )?
    (?P<q>{_QUAL})?
    $""",
    re.VERBOSE,
)

# Season codes (EDTF level 1: 21-24; level 2: 25-41) → (first month, number of months).
_SEASONS = {
    21: (3, 3), 22: (6, 3), 23: (9, 3), 24: (12, 3),  # spring, summer, autumn, winter
    25: (3, 3), 26: (6, 3), 27: (9, 3), 28: (12, 3),  # northern hemisphere
    29: (9, 3), 30: (12, 3), 31: (3, 3), 32: (6, 3),  # southern hemisphere
    33: (1, 3), 34: (4, 3), 35: (7, 3), 36: (10, 3),  # quarters
    37: (1, 4), 38: (5, 4), 39: (9, 4),  # quadrimesters
    40: (1, 6), 41: (7, 6),  # semesters
}


def day_number(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to a proleptic Gregorian date; any integer year (0 = 1 BCE)."""
    y = year - (month <= 2)
    era = y // 400  # floor division: also right for negative years
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _civil(days: int) -> tuple[int, int, int]:
    """The inverse of :func:`day_number`."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (month <= 2), month, day


def iso_date(days: int) -> str:
    """An ISO 8601 calendar date for a day number; negative years as ``-0100-01-01``."""
    year, month, day = _civil(days)
    sign = "-" if year < 0 else ""
    return f"{sign}{abs(year):04d}-{month:02d}-{day:02d}"


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _month_days(year: int, month: int) -> int:
    if month == 2:
        return 29 if _leap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


@dataclass(frozen=True)
class EDTF:
    """A parsed EDTF string: the text as written and the span of days it can mean."""

    text: str
    lower: float  # first possible day (day number), -inf when open or unknown
    upper: float  # last possible day (day number), +inf when open or unknown
    kind: str = "date"  # date, interval, set
    uncertain: bool = False
    approximate: bool = False
    open_start: bool = False  # ".." start: unbounded on purpose
    open_end: bool = False
    unknown_start: bool = False  # empty start: not known
    unknown_end: bool = False

    @property
    def earliest(self) -> str | None:
        """The first possible day as an ISO date, or None where the start is open or unknown."""
        return None if math.isinf(self.lower) else iso_date(int(self.lower))

    @property
    def latest(self) -> str | None:
        """The last possible day as an ISO date, or None where the end is open or unknown."""
        return None if math.isinf(self.upper) else iso_date(int(self.upper))

    @property
    def bounds(self) -> tuple[str | None, str | None]:
        return self.earliest, self.latest

    def overlaps(self, other: EDTF) -> bool:
        """Whether some day could belong to both (bounds inclusive)."""
        return self.lower <= other.upper and other.lower <= self.upper

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class _Span:
    lower: float
    upper: float
    uncertain: bool = False
    approximate: bool = False


def parse_edtf(text: str) -> EDTF:
    """Parse an EDTF string; ``ValueError`` with the reason when it is not one this module reads."""
    if not isinstance(text, str):
        raise ValueError(f"an EDTF date is a string, not {type(text).__name__}")
    if text != text.strip() or not text:
        raise ValueError(f"{text!r} is not an EDTF date: empty or surrounded by spaces")
    if text[0] in "[{":
        return _parse_set(text)
    if "/" in text:
        return _parse_interval(text)
    span = _parse_date(text, text)
    return EDTF(text, span.lower, span.upper, "date", span.uncertain, span.approximate)


def _parse_interval(text: str) -> EDTF:
    if text.count("/") != 1:
        raise ValueError(f"{text!r} is not an EDTF interval: use one '/' between start and end")
    start_text, end_text = text.split("/")
    if start_text in ("", "..") and end_text in ("", ".."):
        raise ValueError(f"{text!r} is not an EDTF interval: at least one end must be a date")
    open_start, unknown_start = start_text == "..", start_text == ""
    open_end, unknown_end = end_text == "..", end_text == ""
    start = None if open_start or unknown_start else _parse_date(start_text, text, "start")
    end = None if open_end or unknown_end else _parse_date(end_text, text, "end")
    if start is not None and end is not None and start.lower > end.upper:
        raise ValueError(
            f"{text!r}: the interval starts ({iso_date(int(start.lower))}) after it ends "
            f"({iso_date(int(end.upper))})"
        )
    return EDTF(
        text,
        -math.inf if start is None else start.lower,
        math.inf if end is None else end.upper,
        "interval",
        uncertain=any(s is not None and s.uncertain for s in (start, end)),
        approximate=any(s is not None and s.approximate for s in (start, end)),
        open_start=open_start,
        open_end=open_end,
        unknown_start=unknown_start,
        unknown_end=unknown_end,
    )


def _parse_set(text: str) -> EDTF:
    closing = {"[": "]", "{": "}"}[text[0]]
    if text[-1] != closing or len(text) < 3:
        raise ValueError(f"{text!r} is not an EDTF set: it must end with {closing!r} and list dates")
    members = [m.strip() for m in text[1:-1].split(",")]
    lower, upper = math.inf, -math.inf
    uncertain = approximate = False
    open_start = open_end = False
    for i, member in enumerate(members):
        if not member:
            raise ValueError(f"{text!r} is not an EDTF set: member {i + 1} is empty")
        if ".." in member:
            first, _, last = member.partition("..")
            if first == "" and last == "":
                raise ValueError(f"{text!r}: a set member cannot be '..' alone")
            if first == "" and i != 0 or last == "" and i != len(members) - 1:
                raise ValueError(f"{text!r}: only the first member may start with '..' and only the last end with it")
            a = _parse_date(first, text) if first else None
            b = _parse_date(last, text) if last else None
            if a is not None and b is not None and a.lower > b.upper:
                raise ValueError(f"{text!r}: the range {member!r} runs backwards")
            spans = [s for s in (a, b) if s is not None]
            if a is None:
                open_start = True
                lower = -math.inf
            if b is None:
                open_end = True
                upper = math.inf
        else:
            spans = [_parse_date(member, text)]
        for s in spans:
            lower, upper = min(lower, s.lower), max(upper, s.upper)
            uncertain |= s.uncertain
            approximate |= s.approximate
    return EDTF(text, lower, upper, "set", uncertain, approximate, open_start=open_start, open_end=open_end)


def _parse_date(part: str, whole: str, role: str = "") -> _Span:
    where = f"{whole!r}" + (f" ({role})" if role else "")
    m = _DATE.match(part)
    if not m:
        raise ValueError(f"{where} is not an EDTF date: {_hint(part)}")
    g = m.groupdict()
    quals = [g[k] for k in ("yq1", "yq2", "mq1", "mq2", "dq1", "dq2", "q") if g[k]]
    if g["q"] and any(g[k] for k in ("yq2", "mq2", "dq2")):
        raise ValueError(f"{where}: two qualifiers in a row")
    uncertain = any(q in "?%" for q in quals)
    approximate = any(q in "~%" for q in quals)

    # year: lowest and highest value it can take
    ytext = g["year"]
    if ytext.startswith("Y"):
        y_lo = y_hi = int(ytext[1:])
    else:
        negative = ytext.startswith("-")
        digits = ytext.lstrip("-")
        if negative and digits == "0000":
            raise ValueError(f"{where}: '-0000' is not a year; year 0 is written '0000'")
        if negative and "X" in digits:
            raise ValueError(f"{where}: unspecified digits (X) in a negative year are not supported")
        a, b = int(digits.replace("X", "0")), int(digits.replace("X", "9"))
        y_lo, y_hi = (-b, -a) if negative else (a, b)

    month_text, day_text = g["month"], g["day"]
    if month_text is None:
        return _Span(day_number(y_lo, 1, 1), day_number(y_hi, 12, 31), uncertain, approximate)

    if "X" not in month_text and int(month_text) > 12:
        code = int(month_text)
        if code not in _SEASONS:
            raise ValueError(f"{where}: month {month_text} does not exist (01-12, or a season 21-41)")
        if day_text is not None:
            raise ValueError(f"{where}: a season ({month_text}) cannot have a day")
        first, count = _SEASONS[code]
        last_year_offset, last_month = divmod(first - 1 + count - 1, 12)
        last_month += 1
        lo = day_number(y_lo, first, 1)
        hi_year = y_hi + last_year_offset
        return _Span(lo, day_number(hi_year, last_month, _month_days(hi_year, last_month)), uncertain, approximate)

    m_lo, m_hi = _digit_range(month_text, 1, 12, where, "month")
    if day_text is None:
        return _Span(day_number(y_lo, m_lo, 1), day_number(y_hi, m_hi, _month_days(y_hi, m_hi)), uncertain, approximate)

    if "X" not in day_text:
        d_lo = d_hi = int(day_text)
    else:
        d_lo, d_hi = _digit_range(day_text, 1, 31, where, "day")
    # the months (of the allowed range) that have the smallest allowed day, in any allowed year
    def most(year_lo: int, year_hi: int, month: int) -> int:
        return 29 if month == 2 and year_lo != year_hi else _month_days(year_lo, month)

    months = [mo for mo in range(m_lo, m_hi + 1) if d_lo <= most(y_lo, y_hi, mo)]
    if d_lo < 1 or not months:
        raise ValueError(f"{where}: day {day_text} does not exist in month {month_text}")
    lo = day_number(y_lo, months[0], min(d_lo, _month_days(y_lo, months[0])))
    hi = day_number(y_hi, months[-1], min(d_hi, _month_days(y_hi, months[-1])))
    return _Span(lo, hi, uncertain, approximate)


def _digit_range(text: str, lo: int, hi: int, where: str, what: str) -> tuple[int, int]:
    """The smallest and largest valid value of a two-digit field that may hold X digits."""
    values = [
        v
        for v in range(lo, hi + 1)
        if all(c == "X" or c == d for c, d in zip(text, f"{v:02d}", strict=True))
    ]
    if not values:
        raise ValueError(f"{where}: {what} {text} does not exist")
    return values[0], values[-1]


def _hint(part: str) -> str:
    if re.fullmatch(r"-?[0-9]{1,3}", part):
        return "a year has four digits (write 0805 for 805, -0100 for 101 BCE)"
    if re.fullmatch(r"-?[0-9]{5,}", part.lstrip("-")):
        return "years beyond 9999 are written with a 'Y' prefix (Y17000)"
    if "E" in part or "S" in part:
        return "exponent (E) and significant-digit (S) years are not supported"
    if re.search(r"[0-9]{4}-[0-9]-|[0-9]{4}-[0-9]$", part):
        return "months and days have two digits (1805-03-12)"
    if "x" in part or "u" in part:
        return "unspecified digits are written with a capital X (19XX)"
    if re.search(r"[0-9]{1,2}[./][0-9]{1,2}[./][0-9]{4}", part) or re.search(r"[0-9]{1,2}\.[0-9]{1,2}\.", part):
        return "write dates as YYYY-MM-DD"
    return "expected YYYY, YYYY-MM or YYYY-MM-DD, optionally with ?, ~ or %, X digits, or an interval A/B"

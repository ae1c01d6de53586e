"""The EDTF parser: the forms heritage records use, their bounds, and clear refusals."""

from __future__ import annotations

import datetime as dt
import math
import re

import pytest

from twin.models.edtf import day_number, iso_date, parse_edtf
from twin.models.layers import EDTF_PATTERN


@pytest.mark.parametrize(
    ("text", "earliest", "latest"),
    [
        ("1805", "1805-01-01", "1805-12-31"),
        ("1805-03", "1805-03-01", "1805-03-31"),
        ("1804-02", "1804-02-01", "1804-02-29"),  # leap year
        ("1900-02", "1900-02-01", "1900-02-28"),  # not a leap year
        ("1805-03-12", "1805-03-12", "1805-03-12"),
        ("1805-03-12T10:20:30Z", "1805-03-12", "1805-03-12"),
        ("1805-03-12T10:20:30+07:00", "1805-03-12", "1805-03-12"),
        ("1833~", "1833-01-01", "1833-12-31"),
        ("1833?", "1833-01-01", "1833-12-31"),
        ("1833%", "1833-01-01", "1833-12-31"),
        ("1833-06~", "1833-06-01", "1833-06-30"),
        ("2004-06~-11", "2004-06-11", "2004-06-11"),
        ("?2004-06-~11", "2004-06-11", "2004-06-11"),
        ("19XX", "1900-01-01", "1999-12-31"),
        ("180X", "1800-01-01", "1809-12-31"),
        ("1XXX", "1000-01-01", "1999-12-31"),
        ("1985-XX", "1985-01-01", "1985-12-31"),
        ("1985-1X", "1985-10-01", "1985-12-31"),
        ("1985-04-XX", "1985-04-01", "1985-04-30"),
        ("1985-04-3X", "1985-04-30", "1985-04-30"),
        ("1985-XX-XX", "1985-01-01", "1985-12-31"),
        ("1985-0X-31", "1985-01-31", "1985-08-31"),
        ("156X-12-25", "1560-12-25", "1569-12-25"),
        ("1920/1925", "1920-01-01", "1925-12-31"),
        ("1920-05/1920", "1920-05-01", "1920-12-31"),
        ("1833~/1840?", "1833-01-01", "1840-12-31"),
        ("1920/..", "1920-01-01", None),
        ("../1925", None, "1925-12-31"),
        ("1920/", "1920-01-01", None),
        ("/1925", None, "1925-12-31"),
        ("-0100", "-0100-01-01", "-0100-12-31"),
        ("-0100/0050", "-0100-01-01", "0050-12-31"),
        ("0000", "0000-01-01", "0000-12-31"),
        ("Y17000", "17000-01-01", "17000-12-31"),
        ("Y-17000", "-17000-01-01", "-17000-12-31"),
        ("2001-21", "2001-03-01", "2001-05-31"),
        ("2001-24", "2001-12-01", "2002-02-28"),
        ("2001-33", "2001-01-01", "2001-03-31"),
        ("2001-41", "2001-07-01", "2001-12-31"),
        ("[1667, 1668, 1670..1672]", "1667-01-01", "1672-12-31"),
        ("{1667,1668}", "1667-01-01", "1668-12-31"),
        ("[..1760-12-03]", None, "1760-12-03"),
        ("[1760-12..]", "1760-12-01", None),
    ],
)
def test_bounds(text, earliest, latest):
    e = parse_edtf(text)
    assert e.text == text and str(e) == text
    assert e.bounds == (earliest, latest)
    # numeric bounds agree with the ISO ones
    assert (None if math.isinf(e.lower) else iso_date(int(e.lower))) == earliest
    assert (None if math.isinf(e.upper) else iso_date(int(e.upper))) == latest
    assert re.match(EDTF_PATTERN, text), "the JSON Schema pattern must accept every date the parser accepts"


def test_qualifier_flags():
    assert parse_edtf("1833~").approximate and not parse_edtf("1833~").uncertain
    assert parse_edtf("1833?").uncertain and not parse_edtf("1833?").approximate
    assert parse_edtf("1833%").uncertain and parse_edtf("1833%").approximate
    assert not parse_edtf("1833").uncertain


def test_interval_ends_open_or_unknown():
    assert parse_edtf("1920/..").open_end and not parse_edtf("1920/..").unknown_end
    assert parse_edtf("1920/").unknown_end and parse_edtf("1920/").upper == math.inf
    assert parse_edtf("../1925").open_start and parse_edtf("../1925").lower == -math.inf
    assert parse_edtf("1920/1925").kind == "interval"


def test_overlap_is_inclusive():
    assert parse_edtf("1920/1925").overlaps(parse_edtf("1925"))
    assert not parse_edtf("1920/1924").overlaps(parse_edtf("1925"))
    assert parse_edtf("1920/..").overlaps(parse_edtf("2100"))
    assert parse_edtf("19XX").overlaps(parse_edtf("1950-06-01"))


def test_day_numbers_match_the_calendar():
    assert day_number(1970, 1, 1) == 0
    epoch = dt.date(1970, 1, 1).toordinal()
    for ordinal in range(1, dt.date(9999, 12, 31).toordinal(), 997):
        d = dt.date.fromordinal(ordinal)
        assert day_number(d.year, d.month, d.day) == ordinal - epoch
        assert iso_date(ordinal - epoch) == d.isoformat()
    # year 0 and before: 1 BCE is a leap year in the proleptic Gregorian calendar
    assert day_number(0, 3, 1) - day_number(0, 2, 28) == 2
    assert day_number(-1, 3, 1) - day_number(-1, 2, 28) == 1
    assert iso_date(day_number(-100, 7, 4)) == "-0100-07-04"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        (" 1805", "spaces"),
        ("18", "four digits"),
        ("805", "four digits"),
        ("18055", "'Y' prefix"),
        ("1805-3", "two digits"),
        ("1805-13", "month 13 does not exist"),
        ("1805-00", "month 00 does not exist"),
        ("1805-02-29", "day 29 does not exist"),
        ("1805-04-31", "day 31 does not exist"),
        ("1805-01-00", "day 00 does not exist"),
        ("1805-02-3X", "day 3X does not exist"),
        ("2001-21-01", "season"),
        ("2001-42", "month 42 does not exist"),
        ("1925/1920", "starts (1925-01-01) after it ends (1920-12-31)"),
        ("1920-06-02/1920-06-01", "starts"),
        ("../..", "at least one end"),
        ("/", "at least one end"),
        ("1920/1925/1930", "one '/'"),
        ("1833~?", "two qualifiers"),
        ("-0000", "year 0"),
        ("-19XX", "negative year"),
        ("19xx", "capital X"),
        ("12.03.1805", "YYYY-MM-DD"),
        ("1950S2", "not supported"),
        ("Y-17E7", "not supported"),
        ("[1667, , 1668]", "empty"),
        ("[1667, 1668", "must end with"),
        ("[1670..1667]", "backwards"),
        ("[1667, ..1668]", "only the first member"),
        ("circa 1805", "expected YYYY"),
    ],
)
def test_malformed_dates_are_refused_with_a_reason(text, reason):
    with pytest.raises(ValueError, match=re.escape(reason)):
        parse_edtf(text)


def test_not_a_string():
    with pytest.raises(ValueError, match="is a string"):
        parse_edtf(1805)  # type: ignore[arg-type]

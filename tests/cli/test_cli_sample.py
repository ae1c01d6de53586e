"""`twin sample`: the pavilion as before with --buildings 1, a site with --buildings N, and what is refused."""

from __future__ import annotations

import filecmp
import json
import shutil
from pathlib import Path

from twin.sample import generate
from twin.sample.sites import load_site


def _same_tree(a: Path, b: Path) -> None:
    cmp = filecmp.dircmp(a, b)
    assert not cmp.left_only and not cmp.right_only, (cmp.left_only, cmp.right_only)
    _, mismatch, errors = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
    assert not mismatch and not errors, mismatch
    for sub in cmp.common_dirs:
        _same_tree(a / sub, b / sub)


def test_one_building_is_the_sample_pavilion_byte_for_byte(cli, tmp_path: Path):
    out = tmp_path / "out"  # both write here in turn: the truth records the command's folder
    result = cli("sample", "--buildings", 1, "--points-per-station", 2000, "--stations", 2, "--out", out)
    assert result.exit_code == 0, result.stderr
    shutil.move(out, tmp_path / "cli")
    generate(out, points_per_station=2000, stations=2)
    _same_tree(tmp_path / "cli" / "pavilion", out / "pavilion")
    # --points is the survey's points, shared out over the stations
    result = cli("sample", "--points", 4000, "--stations", 2, "--surveys", 1, "--out", tmp_path / "points", "--json")
    assert result.exit_code == 0, result.stderr
    made = json.loads(result.stdout)
    assert [s["id"] for s in made["surveys"]] == ["survey-2024"] and 3600 < made["points"] < 4400


def test_several_buildings_make_one_site_survey(cli, tmp_path: Path):
    result = cli("sample", "--buildings", 2, "--stations", 2, "--points", 8000, "--seed", 4, "--out", tmp_path, "--json")
    assert result.exit_code == 0, result.stderr
    made = json.loads(result.stdout)
    site = load_site(made["site"])
    assert made["points"] == site.point_count and 7000 < site.point_count < 9000
    assert [b["id"] for b in made["buildings"]] == ["b01", "b02"]
    assert [st.name for st in site.buildings[1].stations] == ["b02-S1", "b02-S2"]
    assert all(Path(st["file"]).is_file() for b in made["buildings"] for st in b["stations"])
    assert site.generator["command"].startswith("twin sample --buildings 2 --stations 2 --points 8000 --seed 4")


def test_what_a_site_cannot_be_is_refused_in_one_line(cli, tmp_path: Path):
    for args, words in (
        (("--buildings", 2, "--surveys", 1), "one survey"),
        (("--buildings", 2, "--scene", "gate"), "not for the gate scene"),
        (("--points", 5000, "--points-per-station", 1000), "not both"),
        (("--buildings", 2, "--stations", 13), "2..12 stations"),
        (("--buildings", 3, "--stations", 4, "--points", 1000), "at least 100 a station"),
    ):
        result = cli("sample", *args, "--out", tmp_path / "refused")
        assert result.exit_code == 2, (args, result.stdout, result.stderr)
        assert words in result.stderr, (args, result.stderr)
        assert not (tmp_path / "refused" / "site" / "site.json").exists()

"""BagIt packages: RFC 8493 layout, SHA-512 manifests, bagit-python validation, named damage, atomic writes."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

from twin.export.bagit_package import bag_info, bag_payload, bag_size, verify_bag, write_bag
from twin.pipeline.provenance import InputRecord, RunProvenance


@pytest.fixture
def sources(tmp_path: Path) -> dict:
    exports = tmp_path / "exports"
    (exports / "gltf").mkdir(parents=True)
    (exports / "gltf" / "pavilion-lod0.glb").write_bytes(b"glTF" + bytes(range(256)) * 4)
    (exports / "pavilion.jsonld").write_text('{"@graph": []}\n', encoding="utf-8")
    raw = tmp_path / "store"
    raw.mkdir()
    scans = {}
    for station in ("st1", "st2"):
        path = raw / f"{station}.las"
        path.write_bytes(b"LASF" + station.encode() * 5000)
        path.chmod(0o444)  # raw files in the store are read-only
        scans[f"{station}.las"] = path
    prov = RunProvenance(structure_id="pavilion", survey_id="2024-03", pipeline={"name": "default"},
                         pipeline_source="default.yaml", model_key="k" * 64, started_at="2024-03-20T09:00:00Z",
                         inputs=[InputRecord(station="st1", sha256="a" * 64, store_path="raw/a",
                                             original_name="st1.las", point_count=1)])
    return {"exports": exports, "raw": scans, "provenance": {"run-default.json": prov}}


def make_bag(tmp_path: Path, sources: dict, name: str = "bag") -> Path:
    payload = bag_payload(sources["exports"], sources["raw"], sources["provenance"])
    info = bag_info("pavilion", "2024-03", "Hue Monuments Conservation Centre", description="Test pavilion",
                    contact_name="Nguyen Van A", contact_email="archive@hmcc.example.org",
                    organization_address="23 Le Loi, Hue, Viet Nam")
    return write_bag(tmp_path / "out" / name, payload, info, bagging_date=dt.date(2024, 3, 21))


def test_bag_layout_manifests_and_info(tmp_path, sources):
    bag = make_bag(tmp_path, sources)
    assert sorted(p.name for p in bag.iterdir()) == ["bag-info.txt", "bagit.txt", "data", "manifest-sha512.txt",
                                                      "tagmanifest-sha512.txt"]
    assert (bag / "bagit.txt").read_text() == "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
    payload = sorted(str(p.relative_to(bag)) for p in (bag / "data").rglob("*") if p.is_file())
    assert payload == ["data/exports/gltf/pavilion-lod0.glb", "data/exports/pavilion.jsonld",
                       "data/provenance/run-default.json", "data/raw/st1.las", "data/raw/st2.las"]
    manifest = dict(reversed(line.split("  ", 1)) for line in (bag / "manifest-sha512.txt").read_text().splitlines())
    assert set(manifest) == set(payload)
    for rel, digest in manifest.items():
        assert digest == hashlib.sha512((bag / rel).read_bytes()).hexdigest()
    assert (bag / "data/raw/st1.las").read_bytes() == sources["raw"]["st1.las"].read_bytes()
    tags = {line.split("  ", 1)[1] for line in (bag / "tagmanifest-sha512.txt").read_text().splitlines()}
    assert tags == {"bagit.txt", "bag-info.txt", "manifest-sha512.txt"}
    info = dict(line.split(": ", 1) for line in (bag / "bag-info.txt").read_text().splitlines())
    size = sum((bag / p).stat().st_size for p in payload)
    assert info["Source-Organization"] == "Hue Monuments Conservation Centre"
    assert info["Structure-Id"] == "pavilion" and info["Survey-Id"] == "2024-03"
    assert info["External-Identifier"] == "pavilion/2024-03"
    assert info["Bagging-Date"] == "2024-03-21"
    assert info["Payload-Oxum"] == f"{size}.5"
    assert info["Bag-Size"] == f"{size / 1000:.1f} KB"  # RFC 8493: approximate size with its unit
    assert (info["Contact-Name"], info["Contact-Email"]) == ("Nguyen Van A", "archive@hmcc.example.org")
    assert info["Organization-Address"] == "23 Le Loi, Hue, Viet Nam"
    labels = [line.split(": ", 1)[0] for line in (bag / "bag-info.txt").read_text().splitlines()]
    assert labels[:4] == ["Source-Organization", "Organization-Address", "Contact-Name", "Contact-Email"]
    prov = json.loads((bag / "data/provenance/run-default.json").read_text())
    assert prov["model_key"] == "k" * 64


def test_bag_size_has_a_unit_and_contacts_are_left_out_when_unknown():
    assert [bag_size(n) for n in (0, 999, 12_345, 42_600_000, 42_600_000_000, 1_200_000_000_000)] == [
        "0 B", "999 B", "12.3 KB", "42.6 MB", "42.6 GB", "1.2 TB"]
    info = bag_info("pavilion", None, "Org", contact_name=None, contact_email="")
    assert "Contact-Name" not in info and "Contact-Email" not in info and "Survey-Id" not in info


def test_bagit_python_validates_the_bag(tmp_path, sources):
    import bagit

    bag = make_bag(tmp_path, sources)
    assert bagit.Bag(str(bag)).validate()
    assert bagit.Bag(str(bag)).version_info == (1, 0)
    report = verify_bag(bag)
    assert report.valid and not (report.changed or report.missing or report.extra or report.errors)


def test_verify_names_changed_missing_and_extra_files(tmp_path, sources):
    bag = make_bag(tmp_path, sources)
    target = bag / "data/raw/st1.las"
    target.chmod(0o644)
    data = bytearray(target.read_bytes())
    data[100] ^= 1  # one bit, same size: only the checksum can tell
    target.write_bytes(bytes(data))
    report = verify_bag(bag)
    assert not report.valid and report.changed == ["data/raw/st1.las"]
    assert report.missing == [] and report.extra == []

    (bag / "data/exports/pavilion.jsonld").unlink()
    (bag / "data/raw/notes.txt").write_text("added later")
    report = verify_bag(bag)
    assert not report.valid
    assert report.changed == ["data/raw/st1.las"]
    assert report.missing == ["data/exports/pavilion.jsonld"]
    assert report.extra == ["data/raw/notes.txt"]
    assert any("Payload-Oxum" in e for e in report.errors)


def test_verify_reports_a_changed_tag_file_and_a_folder_that_is_no_bag(tmp_path, sources):
    bag = make_bag(tmp_path, sources)
    info = bag / "bag-info.txt"
    info.write_text(info.read_text().replace("Hue Monuments", "Someone Else"))
    report = verify_bag(bag)
    assert not report.valid and report.changed == ["bag-info.txt"]
    report = verify_bag(tmp_path)
    assert not report.valid and "bagit.txt" in report.errors[0]


def test_write_is_atomic_and_never_clobbers(tmp_path, sources):
    bag = make_bag(tmp_path, sources)
    with pytest.raises(FileExistsError):
        make_bag(tmp_path, sources)
    payload = bag_payload(sources["exports"], {"gone.las": tmp_path / "no-such-file.las"})
    with pytest.raises(FileNotFoundError):
        write_bag(tmp_path / "out" / "broken", payload, bag_info("pavilion", None, "HMCC"))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["bag"]  # no half bag, no temp folder
    write_bag(bag, bag_payload(sources["exports"]), bag_info("pavilion", None, "HMCC"), overwrite=True)
    assert verify_bag(bag).valid
    assert not (bag / "data" / "raw").exists()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["bag"]


def test_payload_names_must_be_safe_and_distinct(tmp_path, sources):
    with pytest.raises(ValueError, match="safe relative path"):
        bag_payload(None, {"../escape.las": sources["raw"]["st1.las"]})
    with pytest.raises(ValueError, match="distinct names"):
        bag_payload(None, [sources["raw"]["st1.las"], sources["raw"]["st1.las"]])
    with pytest.raises(ValueError, match="at least one"):
        write_bag(tmp_path / "empty", {}, bag_info("p", None, "o"))


def test_spaces_survive_and_percent_signs_are_refused(tmp_path):
    import bagit

    bag = write_bag(tmp_path / "b", {"exports/with space.txt": b"y"}, bag_info("p", "s", "o"))
    assert "data/exports/with space.txt" in (bag / "manifest-sha512.txt").read_text()
    assert bagit.Bag(str(bag)).validate()
    with pytest.raises(ValueError, match="'%'"):
        write_bag(tmp_path / "c", {"exports/100% done.txt": b"x"}, bag_info("p", "s", "o"))

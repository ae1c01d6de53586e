"""Archive packages as BagIt bags (RFC 8493, BagIt 1.0) with SHA-512 manifests, and their check.

A bag written by :func:`write_bag`::

    <dest>/
      bagit.txt                 BagIt-Version: 1.0, UTF-8 tag files
      bag-info.txt              Source-Organization, Organization-Address, Contact-Name, Contact-Email,
                                External-Identifier, Structure-Id, Survey-Id, Bagging-Date, Bag-Size,
                                Payload-Oxum, Bag-Software-Agent, ...
      manifest-sha512.txt       every payload file
      tagmanifest-sha512.txt    bagit.txt, bag-info.txt, manifest-sha512.txt
      data/exports/...          the exports (GLB, PLY/LAZ, legend, JSON-LD, GeoJSON), as given
      data/raw/...              the raw scans, byte for byte
      data/provenance/...       the provenance records, as JSON

The bag is assembled in a hidden folder beside ``dest`` and renamed onto it at the end,
so a crash never leaves a half bag under the final name. Each file is hashed while it is
copied (one read of each raw scan). :func:`verify_bag` validates with bagit-python and
names every file that changed, is missing or is extra.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from pydantic import BaseModel, Field

import twin
from twin.catalog.store import file_digest

ALGORITHM = "sha512"
_BLOCK = 4 * 1024 * 1024
_BAGIT_TXT = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"

Payload = Mapping[str, "Path | bytes"]  # path inside data/ -> a file to copy, or the bytes to write


class BagReport(BaseModel):
    """What :func:`verify_bag` found. Paths are relative to the bag (``data/raw/s1.las``)."""

    path: str
    valid: bool
    changed: list[str] = Field(default_factory=list, description="files whose checksum no longer matches")
    missing: list[str] = Field(default_factory=list, description="files in a manifest but not in the bag")
    extra: list[str] = Field(default_factory=list, description="payload files that no manifest lists")
    errors: list[str] = Field(default_factory=list, description="other problems (structure, tag files, Oxum)")


# -- the payload ------------------------------------------------------------------------------


def _checked_name(name: str) -> str:
    """A payload path: relative, ``/``-separated, no ``..``. No ``%``, CR or LF either: RFC 8493
    has manifests percent-encode them, which bagit-python does not decode, so such a bag
    would not validate there."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or "\\" in name or any(p in ("", ".", "..") for p in name.split("/")):
        raise ValueError(f"{name!r} is not a safe relative path for a file inside a bag")
    if any(c in name for c in "%\r\n"):
        raise ValueError(f"{name!r}: a file name inside a bag cannot contain '%' or a line break; rename it")
    return str(path)


def bag_payload(exports: Path | Mapping[str, Path] | None = None,
                raw_scans: Mapping[str, Path] | Sequence[Path] = (),
                provenance: Mapping[str, object] | Sequence[object] = ()) -> dict[str, Path | bytes]:
    """The payload of a twin package: ``exports/``, ``raw/`` and ``provenance/``.

    ``exports``: a folder (every file in it, kept relative) or names → files. ``raw_scans``:
    names → files, or files kept under their own names (which must then differ).
    ``provenance``: names → records, or records named ``run-<n>.json``; a record is a
    pydantic model (e.g. :class:`~twin.pipeline.provenance.RunProvenance`), a dict, or JSON
    text/bytes.
    """
    payload: dict[str, Path | bytes] = {}

    def put(name: str, item: Path | bytes) -> None:
        name = _checked_name(name)
        if name in payload:
            raise ValueError(f"two payload files would be {name!r}; give them distinct names")
        payload[name] = item

    if isinstance(exports, (str, Path)):
        root = Path(exports)
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            put(f"exports/{path.relative_to(root).as_posix()}", path)
    elif exports is not None:
        for name, path in exports.items():
            put(f"exports/{name}", Path(path))
    named_scans = raw_scans.items() if isinstance(raw_scans, Mapping) else ((Path(p).name, p) for p in raw_scans)
    for name, path in named_scans:
        put(f"raw/{name}", Path(path))
    named_records = (provenance.items() if isinstance(provenance, Mapping)
                     else ((f"run-{i + 1}.json", r) for i, r in enumerate(provenance)))
    for name, record in named_records:
        put(f"provenance/{name}", _json_bytes(record))
    return payload


def _json_bytes(record: object) -> bytes:
    if isinstance(record, BaseModel):
        return (record.model_dump_json(indent=2) + "\n").encode("utf-8")
    if isinstance(record, bytes):
        return record
    if isinstance(record, str):
        return record.encode("utf-8")
    return (json.dumps(record, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")


# -- writing ----------------------------------------------------------------------------------


def _put_file(target: Path, item: Path | bytes) -> tuple[str, int]:
    """Copy (or write) one payload file, hashing it on the way; (hex digest, size)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.new(ALGORITHM)
    size = 0
    with open(target, "wb") as out:
        if isinstance(item, bytes):
            digest.update(item)
            out.write(item)
            size = len(item)
        else:
            with open(item, "rb") as src:
                while block := src.read(_BLOCK):
                    digest.update(block)
                    out.write(block)
                    size += len(block)
    return digest.hexdigest(), size


def _tag_value(value: object) -> str:
    return " ".join(str(value).split())  # one line: tag values cannot hold line breaks unfolded


def bag_info(structure_id: str, survey_id: str | None, source_organization: str, *,
             description: str | None = None, contact_name: str | None = None, contact_email: str | None = None,
             organization_address: str | None = None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The descriptive part of bag-info.txt (RFC 8493 reserved labels first, then twin's);
    Bagging-Date, Bag-Size and Payload-Oxum are added when writing."""
    info = {"Source-Organization": source_organization}
    for label, value in (("Organization-Address", organization_address), ("Contact-Name", contact_name),
                         ("Contact-Email", contact_email)):
        if value:
            info[label] = value
    info.update({"External-Identifier": f"{structure_id}/{survey_id}" if survey_id else structure_id,
                 "Structure-Id": structure_id})
    if survey_id:
        info["Survey-Id"] = survey_id
    if description:
        info["External-Description"] = description
    info.update(extra or {})
    return info


def bag_size(n_bytes: int) -> str:
    """RFC 8493's Bag-Size: the approximate size with a decimal unit (``42.6 GB``, ``12.3 MB``)."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{n_bytes} B"


def write_bag(dest: Path, payload: Payload, info: Mapping[str, str], *, bagging_date: dt.date | None = None,
              overwrite: bool = False, workers: int = 4) -> Path:
    """Write a BagIt 1.0 bag at ``dest`` from ``payload`` (see :func:`bag_payload`), atomically.

    ``info`` labels go to bag-info.txt (see :func:`bag_info`), then Bagging-Date, Bag-Size
    (of the payload), Payload-Oxum and Bag-Software-Agent. An existing ``dest`` is an error unless
    ``overwrite``; it is then replaced only once the new bag is complete.
    """
    dest = Path(dest)
    if not payload:
        raise ValueError("a bag needs at least one payload file")
    if dest.exists() and not overwrite:
        raise FileExistsError(f"{dest} already exists; choose another destination or allow overwriting")
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.bagging-"))
    try:
        names = [_checked_name(n) for n in payload]
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(names)))) as pool:
            results = list(pool.map(lambda n: _put_file(work / "data" / n, payload[n]), names))
        manifest = "".join(f"{digest}  data/{n}\n" for n, (digest, _) in sorted(zip(names, results, strict=True)))
        labels = {k: _tag_value(v) for k, v in info.items()}
        labels["Bagging-Date"] = (bagging_date or dt.date.today()).isoformat()
        payload_bytes = sum(size for _, size in results)
        labels["Bag-Size"] = bag_size(payload_bytes)
        labels["Payload-Oxum"] = f"{payload_bytes}.{len(results)}"
        labels.setdefault("Bag-Software-Agent", f"twin {twin.__version__}")
        tag_files = {
            "bagit.txt": _BAGIT_TXT,
            "bag-info.txt": "".join(f"{k}: {v}\n" for k, v in labels.items()),
            f"manifest-{ALGORITHM}.txt": manifest,
        }
        for name, text in tag_files.items():
            (work / name).write_text(text, encoding="utf-8", newline="\n")
        tagmanifest = "".join(f"{file_digest(work / name, ALGORITHM)}  {name}\n" for name in sorted(tag_files))
        (work / f"tagmanifest-{ALGORITHM}.txt").write_text(tagmanifest, encoding="utf-8", newline="\n")
        os.chmod(work, 0o755)  # mkdtemp makes it owner-only
        _move_into_place(work, dest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return dest


def _move_into_place(work: Path, dest: Path) -> None:
    if not dest.exists():
        os.rename(work, dest)
        return
    old = dest.with_name(f".{dest.name}.replaced-{os.getpid()}")
    os.rename(dest, old)
    try:
        os.rename(work, dest)
    except BaseException:
        os.rename(old, dest)
        raise
    shutil.rmtree(old, ignore_errors=True)


# -- verifying --------------------------------------------------------------------------------


@contextmanager
def _quiet_bagit() -> Iterator[None]:
    """bagit-python logs each problem as a warning; the report carries them instead."""
    logger = logging.getLogger("bagit")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def verify_bag(path: Path, processes: int = 1) -> BagReport:
    """Validate a bag with bagit-python (structure, Payload-Oxum, completeness, every checksum).

    bagit stops at the first kind of problem (a wrong Payload-Oxum hides which files are
    missing; a missing file hides which changed), so on failure every manifest entry is
    compared with the files once more to name them all.
    """
    import bagit  # noqa: PLC0415

    path = Path(path)
    report = BagReport(path=str(path), valid=False)
    with _quiet_bagit():
        try:
            bag = bagit.Bag(str(path))
        except bagit.BagError as exc:
            report.errors.append(str(exc) or type(exc).__name__)
            return report
        try:
            bag.validate(processes=processes)
        except bagit.BagValidationError as exc:
            if not exc.details:
                report.errors.append(exc.message)
        except bagit.BagError as exc:
            report.errors.append(str(exc) or type(exc).__name__)
        else:
            report.valid = True
            return report
        missing, extra = bag.compare_manifests_with_fs()
    report.missing = sorted(missing)
    report.extra = sorted(extra)
    gone = set(missing)
    for rel, hashes in sorted(bag.entries.items()):
        if rel in gone or not (path / rel).is_file():
            continue
        if any(file_digest(path / rel, alg) != expected.lower() for alg, expected in hashes.items()
               if alg in hashlib.algorithms_available):
            report.changed.append(rel)
    return report

"""The catalogue is well-formed, and every requirement ID cited anywhere in the repository exists."""

import subprocess
from pathlib import Path

import rrp_spec
from rrp_spec import REQUIREMENTS, Level, vectors
from rrp_spec.requirements import AREAS, ID_PATTERN

REPO = Path(__file__).resolve().parents[2]
TEXT_SUFFIXES = {".py", ".md", ".json", ".c", ".yml", ".yaml", ".toml", ".txt", ".html", ".js", ".css"}


def test_ids_are_unique_and_well_formed() -> None:
    ids = [r.id for r in REQUIREMENTS]
    assert len(ids) == len(set(ids))
    assert all(ID_PATTERN.fullmatch(i) for i in ids)
    assert {r.area for r in REQUIREMENTS} == set(AREAS)


def test_every_requirement_is_complete() -> None:
    for r in REQUIREMENTS:
        assert r.text.endswith((".", ")")) and r.prevents, r.id
        assert r.level.value in r.text, f"{r.id}: the sentence must carry its level word {r.level}"


def test_levels_are_rfc_2119() -> None:
    assert {r.level for r in REQUIREMENTS} <= set(Level)


def _repository_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [REPO / p for p in listed if Path(p).suffix in TEXT_SUFFIXES and (REPO / p).is_file()]


def test_every_cited_requirement_exists() -> None:
    unknown: dict[str, set[str]] = {}
    for path in _repository_files():
        for rid in ID_PATTERN.findall(path.read_text(errors="replace")):
            if rid not in rrp_spec.BY_ID:
                unknown.setdefault(rid, set()).add(str(path.relative_to(REPO)))
    assert not unknown, f"requirement IDs cited but not in the catalogue: {unknown}"


def test_vectors_cite_existing_requirements() -> None:
    for vector in vectors.load():
        assert vector["requirements"], vector["name"]
        assert set(vector["requirements"]) <= set(rrp_spec.BY_ID), vector["name"]

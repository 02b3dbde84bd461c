"""The package type-checks: mypy, with setup.cfg's [mypy] configuration (the mypy-zope
plugin), finds no error anywhere in ``nakama_rt``, and none in the seams held to the
strict options: the pipeline, the dispatch table, the router, the tracker, the storage
interface and its SQL helpers, the runtime's ``nk`` and its realtime protocols."""

from __future__ import annotations

import configparser
from pathlib import Path

from tests.processes import ROOT, python_in_checkout

#: The modules held strict; setup.cfg's strict [mypy-...] section names the same.
SEAMS = (
    "nakama_rt/core/pipeline.py",
    "nakama_rt/realtime/dispatch.py",
    "nakama_rt/core/router.py",
    "nakama_rt/core/tracker.py",
    "nakama_rt/storage/interface.py",
    "nakama_rt/storage/sql.py",
    "nakama_rt/runtime/nk.py",
    "nakama_rt/runtime/realtime.py",
    "nakama_rt/core/refs.py",
)


def test_the_package_type_checks(tmp_path: Path) -> None:
    """The seams are part of the package: their section in setup.cfg holds them to the
    strict options in this same run."""
    status, report = python_in_checkout(
        "-m",
        "mypy",
        "--config-file",
        "setup.cfg",
        "--cache-dir",
        str(tmp_path / "mypy_cache"),
        "nakama_rt",
    )
    assert status == 0, report
    assert report.startswith("Success: no issues found"), report


def test_the_strict_section_names_the_seams() -> None:
    """A seam added to the test but not to setup.cfg (or the reverse) would be checked
    with the lax defaults, or not at all."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    strict = [
        section
        for section in config.sections()
        if section.startswith("mypy-")
        and config.getboolean(section, "disallow_untyped_defs", fallback=False)
    ]
    assert len(strict) == 1, strict
    modules = {name.strip() for name in strict[0].removeprefix("mypy-").split(",")}
    assert modules == {seam.removesuffix(".py").replace("/", ".") for seam in SEAMS}

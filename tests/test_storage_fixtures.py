"""The PostgreSQL tests skip cleanly without PostgreSQL, and fail under CI.

Each case runs a small pytest session in a subprocess, with PostgreSQL pointed at a
closed port, through the same ``storage_kind`` fixture the storage tests use.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import nakama_rt

TESTS_DIR = Path(__file__).parent
CHECKOUT = Path(nakama_rt.__file__).parent.parent
CLOSED_PORT_URL = "postgresql://postgres@127.0.0.1:1/test"

# Two tests on one async fixture: the second shows the first skip left no half-set-up
# fixture behind (with pytest 9, a skip raised inside the async fixture made every later
# test using it error).
SESSION = """
import pytest_twisted
from storage_fixtures import start_test_storage
from storage_fixtures import storage_kind as storage_kind
from twisted.internet import reactor


@pytest_twisted.async_yield_fixture
async def storage(storage_kind, tmp_path):
    opened = await start_test_storage(storage_kind, tmp_path, reactor)
    yield opened.storage
    await opened.close()


def test_first(storage):
    pass


def test_second(storage):
    pass
"""


def run_session(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_session.py").write_text(SESSION)
    env = dict(os.environ, NAKAMA_RT_TEST_POSTGRES=CLOSED_PORT_URL)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(TESTS_DIR), str(CHECKOUT), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    env.pop("CI", None)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", "-q", "test_session.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def summary(output: str) -> str:
    return output.strip().splitlines()[-1]


def test_without_postgres_the_postgresql_cases_skip(tmp_path: Path) -> None:
    result = run_session(tmp_path, ci=None)
    assert result.returncode == 0, result.stdout + result.stderr
    assert summary(result.stdout).startswith("2 passed, 2 skipped in"), result.stdout
    assert f"PostgreSQL at {CLOSED_PORT_URL} cannot be used" in result.stdout


@pytest.mark.parametrize("ci", ["true", "1"])
def test_under_ci_the_postgresql_cases_fail(tmp_path: Path, ci: str) -> None:
    result = run_session(tmp_path, ci=ci)
    assert result.returncode == 1, result.stdout + result.stderr
    assert summary(result.stdout).startswith("2 passed, 2 errors in"), result.stdout
    assert result.stdout.count(f"PostgreSQL at {CLOSED_PORT_URL} is required when CI") == 2
    assert "assert not self._finalizers" not in result.stdout

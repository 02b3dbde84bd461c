"""The import rules in setup.cfg ([importlinter] contracts) hold: the folders stack in
layers (README, "Architecture"), the realtime features are independent of one another,
nothing under realtime, core or runtime reaches the socket or HTTP layers, the runtime
reaches realtime only through its protocols, and no package's modules import each
other in a circle."""

from __future__ import annotations

from tests.processes import ROOT, python_in_checkout


def test_every_import_contract_is_kept() -> None:
    # A child process reads the checkout's sources afresh (cwd first on its path).
    check = (
        "from importlinter.cli import lint_imports; "
        f"raise SystemExit(lint_imports(config_filename={str(ROOT / 'setup.cfg')!r}, "
        "no_cache=True, no_logo=True))"
    )
    status, report = python_in_checkout("-c", check)
    assert status == 0, report
    assert "Contracts: 6 kept, 0 broken." in report, report

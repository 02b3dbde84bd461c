"""The twistd service collects garbage less often once started."""

from __future__ import annotations

import gc

from nakama_rt.service import GC_YOUNG_THRESHOLD, tune_garbage_collection


def test_startup_objects_are_frozen_and_young_collections_are_rarer() -> None:
    saved = gc.get_threshold()
    try:
        tune_garbage_collection()
        assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD
        assert gc.get_threshold()[1:] == saved[1:]
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*saved)

"""When a supervisor starts a dead worker again."""

from __future__ import annotations

from twisted.internet.interfaces import IReactorTime


class RestartBackoff:
    """The restart delays of one worker: at once after its first death, or after a run
    of at least ``stable_sec``; else ``first_sec``, doubled at each quick death again,
    up to ``max_sec``. A worker that cannot stay up (its database gone, say) is retried
    without spinning, and comes back quickly once it can."""

    def __init__(
        self,
        clock: IReactorTime,
        first_sec: float = 1.0,
        max_sec: float = 30.0,
        stable_sec: float = 10.0,
    ) -> None:
        self._clock = clock
        self._first = first_sec
        self._max = max_sec
        self._stable = stable_sec
        self._started = clock.seconds()
        #: The last delay given, None before the first death.
        self._delay: float | None = None

    def started(self) -> None:
        """The worker was (re)started now."""
        self._started = self._clock.seconds()

    def died(self) -> float:
        """The worker died now: seconds to wait before starting it again."""
        ran = self._clock.seconds() - self._started
        if self._delay is None or ran >= self._stable:
            self._delay = 0.0
        else:
            self._delay = min(self._max, max(self._first, self._delay * 2))
        return self._delay

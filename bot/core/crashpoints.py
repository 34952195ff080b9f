"""Named crash points: the process kills itself with SIGKILL at a chosen moment, for the fault suite.

A kill aimed by timing lands in a window only by luck; a kill at a named point lands there every time.
``IMAGINEBOT_CRASH_AT`` names one point, optionally with the hit that fires it (``submit_sent:3`` dies at
the third time the process reaches that point). Unset, :func:`reached` costs one dictionary lookup.

The points, in the order a job passes them:

``after_defer``        an /imagine or a press was acknowledged, before anything else happens
``before_submit``      the job is marked as being sent, right before the provider request
``submit_sent``        the submit request went out and the provider answered; the answer is not read yet
``after_answer``       the provider's answer was read, before it is stored
``before_final_edit``  the job ended and its message is about to show it
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import signal
from collections.abc import Iterator

__all__ = ["ENV", "POINTS", "reached", "response_arrived", "submitting"]

ENV = "IMAGINEBOT_CRASH_AT"
POINTS = frozenset({"after_defer", "before_submit", "submit_sent", "after_answer", "before_final_edit"})

_hits: dict[str, int] = {}
# Set while the engine sends a submit, so the HTTP transport knows which answer is a submit's.
_IN_SUBMIT: contextvars.ContextVar[bool] = contextvars.ContextVar("imaginebot_in_submit", default=False)


def _target() -> tuple[str, int] | None:
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return None
    name, _, count = raw.partition(":")
    if name not in POINTS:
        raise ValueError(f"{ENV} names no crash point: {name!r} (one of {', '.join(sorted(POINTS))})")
    return name, int(count) if count else 1


# Read once at import: a test sets the variable in the child's environment before it starts.
_TARGET = _target()


def reached(name: str) -> None:
    """Die here with SIGKILL when ``IMAGINEBOT_CRASH_AT`` names this point (and this is the named hit)."""
    if _TARGET is None or _TARGET[0] != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] >= _TARGET[1]:
        os.kill(os.getpid(), signal.SIGKILL)


@contextlib.contextmanager
def submitting() -> Iterator[None]:
    """Mark the requests made inside as a provider submit (for ``submit_sent``)."""
    token = _IN_SUBMIT.set(True)
    try:
        yield
    finally:
        _IN_SUBMIT.reset(token)


def response_arrived() -> None:
    """Called by the HTTP transport when an answer's status line arrived, before its body is read."""
    if _TARGET is not None and _IN_SUBMIT.get():
        reached("submit_sent")

"""Per-panel memo: what several detectors derive from one panel is computed once per panel.

Why a memo keyed on the panel, and not a `PanelBaselines` object the caller builds and
passes in: the Detector protocol is `detect(panel)`, and every caller (the detection
runner, RunDetection, the demo, the benchmark, the tests) already hands the same Panel
object to each detector in turn. Keyed on that object, sharing needs no change to the
protocol or to any caller, a detector used alone still works, and no caller can pass
baselines that belong to another panel or config. Detectors stay pure: the memo only
remembers what a pure function of (panel, key) returned.

Entries live exactly as long as their panel: a weak reference drops them when the panel is
collected, so nothing outlives a run. Each key carries every input besides the panel (the
metric and the whole frozen config), so detectors with different configs never share a
result they should not. Panels are immutable by contract: a panel whose arrays are edited
in place after a detector has seen it would be judged on stale fits.

`weakref.WeakKeyDictionary` cannot hold panels: Panel is a frozen dataclass whose generated
`__hash__` hashes its fields, including the unhashable `values` dict, and whose `__eq__`
compares arrays. Entries are therefore keyed by identity, with the weak reference's
callback removing them.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Hashable
from typing import TypeVar, cast

from detectors.findings import Panel

T = TypeVar("T")

# Reentrant: a collection (and so a removal callback) can start on this very thread while it
# holds the lock.
_lock = threading.RLock()
_entries: dict[int, tuple[weakref.ref[Panel], dict[Hashable, object]]] = {}


def memo(panel: Panel, key: Hashable, compute: Callable[[], T]) -> T:
    """`compute()` the first time `key` is asked of `panel`, the remembered value after.

    `compute` runs outside the lock, so a slow fit never blocks other panels; two threads
    racing on one key may both compute it, and both then get the value stored first.
    """
    with _lock:
        table = _table(panel)
        if key in table:
            return cast(T, table[key])
    value = compute()
    with _lock:
        return cast(T, _table(panel).setdefault(key, value))


def memo_size(panel: Panel) -> int:
    """How many values are remembered for `panel` (for tests and debugging)."""
    with _lock:
        entry = _entries.get(id(panel))
        return len(entry[1]) if entry is not None and entry[0]() is panel else 0


def _table(panel: Panel) -> dict[Hashable, object]:
    """The memo table of `panel`, created on first use. Call with the lock held."""
    key = id(panel)
    entry = _entries.get(key)
    if entry is not None and entry[0]() is panel:
        return entry[1]
    table: dict[Hashable, object] = {}
    _entries[key] = (weakref.ref(panel, _forget(key)), table)
    return table


def _forget(key: int) -> Callable[[weakref.ref[Panel]], None]:
    def drop(ref: weakref.ref[Panel]) -> None:
        with _lock:
            entry = _entries.get(key)
            # A newer panel may already sit at a reused id: remove only this panel's entry.
            if entry is not None and entry[0] is ref:
                del _entries[key]

    return drop

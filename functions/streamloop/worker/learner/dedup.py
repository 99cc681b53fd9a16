"""The learned-id window the learner dedups against, checkpointed incrementally.

The ids are kept in memory (the last ``limit``, oldest first) and, for checkpoints, as immutable
:class:`~streamloop.worker.learner.checkpoint.Segment` s: :meth:`IdWindow.close_segment` turns the ids learned
since the last checkpoint into one segment, which the checkpoint store writes once. A checkpoint then
pickles only the segment references, so its cost does not grow with ``dedup_window``. Segments are
dropped once every id in them is older than the last ``limit``; restoring keeps the last ``limit`` ids of
the segments, so the window after a restart equals the window of a run without one.

>>> window = IdWindow()
>>> for i in range(5):
...     window.add(f"e{i}", limit=3)
>>> list(window), "e1" in window, "e4" in window
(['e2', 'e3', 'e4'], False, True)
>>> window.close_segment(); import pickle; list(pickle.loads(pickle.dumps(window)))
['e2', 'e3', 'e4']
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterator
from typing import Any

from streamloop.worker.learner.checkpoint import Segment


class IdWindow:
    """The last ``limit`` ids added, with membership tests; pickles as segment references."""

    def __init__(self, limit: int = 1) -> None:
        self.limit = limit
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._segments: deque[Segment] = deque()
        self._in_segments = 0  # ids held by self._segments
        self._open: list[str] = []  # added since the last close_segment
        self._next = 0  # the next segment's name: names never repeat within one checkpoint key

    def __contains__(self, example_id: object) -> bool:
        return example_id in self._ids

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, example_id: str, limit: int) -> None:
        """Remember ``example_id``, forgetting the oldest ids beyond ``limit``."""
        self.limit = limit
        ids = self._ids
        ids[example_id] = None
        while len(ids) > limit:
            ids.popitem(last=False)
        self._open.append(example_id)

    def close_segment(self) -> None:
        """Seal the ids added since the last call into a segment; drop segments the window has passed."""
        if self._open:
            self._segments.append(Segment(str(self._next), tuple(self._open)))
            self._in_segments += len(self._open)
            self._next += 1
            self._open = []
        segments = self._segments
        while segments and self._in_segments - len(segments[0].records) >= self.limit:
            self._in_segments -= len(segments.popleft().records)

    def __getstate__(self) -> dict[str, Any]:
        return {"limit": self.limit, "segments": list(self._segments), "open": self._open, "next": self._next}

    def __setstate__(self, saved: dict[str, Any]) -> None:
        self.__init__(saved["limit"])  # type: ignore[misc]
        self._segments = deque(saved["segments"])
        self._in_segments = sum(len(s.records) for s in self._segments)
        self._next = saved["next"]
        for segment in self._segments:
            for example_id in segment.records:
                self.add(example_id, self.limit)
        self._open = []
        for example_id in saved["open"]:
            self.add(example_id, self.limit)

"""Status API paths: every name survives the trip through percent-quoting, whatever it holds."""

from __future__ import annotations

from urllib.parse import unquote

from hypothesis import given
from hypothesis import strategies as st

from core.status_api import _path

names = st.text(min_size=1, max_size=30)


@given(st.lists(names, min_size=1, max_size=3))
def test_segments_round_trip(segments: list[str]) -> None:
    path = _path(*segments)
    assert "?" not in path and "#" not in path
    assert path.startswith("/")
    assert [unquote(part) for part in path[1:].split("/")] == segments

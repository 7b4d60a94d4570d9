"""Fixtures of the graph detector tests: one seeded organic week, shared by the session."""

from __future__ import annotations

import pytest

from detectors.findings import EventFrame
from graphs.synthetic import Organic, make_organic, to_frame


@pytest.fixture(scope="session")
def organic() -> Organic:
    return make_organic()


@pytest.fixture(scope="session")
def organic_frame(organic: Organic) -> EventFrame:
    return to_frame(organic.rows)

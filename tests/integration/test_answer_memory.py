"""Memory bounded whatever the answer's shape (issue 23, item 3): each hostile shape, streamed over
loopback HTTP, is read in a fresh child through the real client with the built-in limits (256 MiB per
answer); the child's peak resident set stays within 100 MB. Before: 33 bytes kept per byte of filler
outside `<meeting>` (100 MB of `<x/>`: 3.3 GB), gzip filler 7.9 GB, an endless chunked body 8.4 GB, a
180 MB getServers of `{}` 4.9 GB, deep JSON a RecursionError."""

from __future__ import annotations

import pytest

from tests.support.hostile_shapes import SHAPES, read_in_child

BUDGET_MIB = 100
EXPECTED = {
    "xml filler beside meetings": "read: 1 entries",
    "xml one giant meeting": "read: 1 entries",
    "xml gzip of filler": "read: 0 entries",
    "xml endless chunked": "getMeetings answer is larger than the 256 MiB limit",
    "json empty objects": "refused: ResponseError: scalelite: getServers answer is larger than the 8 MiB limit",
    "json deep nesting": "refused: ResponseError: Scalelite getServers answer refused (HTTP 200): JSON nested too deep",
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_each_shape_is_read_or_refused_within_the_memory_budget(shape):
    figures = read_in_child(shape)
    assert EXPECTED[shape] in figures["outcome"], figures
    assert figures["peak_mib"] <= BUDGET_MIB, figures

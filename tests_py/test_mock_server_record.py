"""What ``llmrail.testing.MockServer`` keeps of the requests it receives: each one as it came
(method, path, query, headers, body), and a count of every one, which goes on past the last
10,000 that ``requests`` keeps (a mock serving a benchmark must not grow without bound)."""

from __future__ import annotations

import pytest
from llmrail.testing import MockServer

httpx = pytest.importorskip("httpx")


def test_received_counts_every_request_and_clear_resets_it(srv: MockServer) -> None:
    with httpx.Client(base_url=srv.url) as http:
        for n in range(3):
            http.post(f"/v1/messages?n={n}", headers={"x-api-key": "k", "x-note": "a: b"}, content=b"not json")
    assert srv.received == 3
    assert [r["query"] for r in srv.requests] == ["n=0", "n=1", "n=2"]
    last = srv.last_request
    assert ("x-note", "a: b") in [tuple(h) for h in last["headers"]]
    assert last["body"] == "not json"
    srv.clear()
    assert (srv.received, srv.requests) == (0, [])

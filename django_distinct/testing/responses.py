"""
Answer the project's HTTP calls from a ``FakeDistinct`` through ``responses``.

``responses`` is an optional dependency (the ``testing`` extra); it is
imported only when ``use_responses`` is called.  The library cannot hold an
answer back or cut a connection, so the two timing faults become the errors
``requests`` would raise: "drop" raises ``ConnectionError`` and "slow" always
raises ``ReadTimeout``, whatever its delay and the caller's timeout.  Use
``FakeDistinctServer`` to test a delay shorter than the timeout.  In both
cases the fake has already run the contract when the error is raised, as a
real server would have.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

from django_distinct import conf
from django_distinct.testing.fake import FakeDistinct

if TYPE_CHECKING:
    import responses


def use_responses(
    fake: FakeDistinct,
    rsps: responses.RequestsMock,
    base_url: str | None = None,
    *,
    client_ip: str = "127.0.0.1",
) -> None:
    """Register ``fake`` on ``rsps`` for POSTs to the delete URL.

    ``base_url`` defaults to the ``BASE_URL`` setting, read now.  Every
    request is answered as coming from ``client_ip``.
    """
    import responses

    root = base_url if base_url is not None else str(conf.get("BASE_URL"))
    url = root.rstrip("/") + conf.DELETE_PATH

    def answer(request: requests.PreparedRequest) -> Any:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        split = urlsplit(request.url or "")
        path = split.path + (f"?{split.query}" if split.query else "")

        response = fake.handle(
            method=request.method or "POST",
            path=path,
            headers=dict(request.headers),
            body=body,
            client_ip=client_ip,
        )

        if response.drop:
            return requests.exceptions.ConnectionError(
                "The Distinct double dropped the connection.", request=request
            )
        if response.delay:
            return requests.exceptions.ReadTimeout(
                "The Distinct double answered too late.", request=request
            )
        return response.status, response.headers, response.body

    rsps.add_callback(responses.POST, url, callback=answer, content_type=None)

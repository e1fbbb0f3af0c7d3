"""The gateway's HTTP client: one keep-alive pool per origin, found once, and a proxy from the environment
honoured as urllib3 would (a plain-HTTP proxy is sent the whole URL), read once when the gateway is made."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import pytest
import requests

from membership.giving.stripe_gateway import StripeGateway, StripeRejected
from stripe_double import DoubleServer
from tests.support.servers import serving


class ForwardProxy(ThreadingHTTPServer):
    """A plain-HTTP forward proxy: takes absolute-form request lines and forwards them, noting each."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Forward)
        self.seen: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Forward(BaseHTTPRequestHandler):
    server: ForwardProxy
    protocol_version = "HTTP/1.1"

    def _forward(self) -> None:
        self.server.seen.append(f"{self.command} {self.path}")
        length = int(self.headers.get("Content-Length") or 0)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "proxy-connection")}
        with requests.Session() as straight:  # to the double itself, whatever the environment says
            straight.trust_env = False
            response = straight.request(self.command, self.path, headers=headers, timeout=10,
                                        data=self.rfile.read(length) if length else None)
        self.send_response(response.status_code)
        self.send_header("Content-Type", response.headers.get("Content-Type", "application/json"))
        self.send_header("Request-Id", response.headers.get("Request-Id", ""))
        self.send_header("Content-Length", str(len(response.content)))
        self.end_headers()
        self.wfile.write(response.content)

    do_GET = do_POST = do_DELETE = _forward

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    with serving(ForwardProxy()) as server:
        yield server


def test_requests_to_one_origin_share_one_pool(double: DoubleServer) -> None:
    stripe = StripeGateway("sk_test_x", api_base=double.url, timeout_seconds=5)
    client = cast(Any, stripe)._client._requestor._client  # the SDK's HTTP client: the gateway's _PacedClient
    for _ in range(3):
        with pytest.raises(StripeRejected):
            stripe.retrieve_invoice("in_missing", with_payments=True)
    assert list(client._origins) == [double.url]
    paths = [(r["path"], r["params"]) for r in double.requests[-3:]]
    assert paths == [("/v1/invoices/in_missing", {"expand": ["payments"]})] * 3
    client.close()
    assert client._origins == {}


def test_a_plain_http_proxy_from_the_environment_is_sent_the_whole_url(
    double: DoubleServer, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    stripe = StripeGateway("sk_test_x", api_base=double.url, timeout_seconds=5)
    monkeypatch.delenv("HTTP_PROXY")  # read once, at start-up (and the double's own deliveries go straight)
    customer = stripe._call("post", "/v1/customers", {"email": "proxied@example.com"})
    assert stripe._call("get", f"/v1/customers/{customer['id']}")["email"] == "proxied@example.com"
    assert proxy.seen == [f"POST {double.url}/v1/customers", f"GET {double.url}/v1/customers/{customer['id']}"]
    assert [r["path"] for r in double.requests[-2:]] == ["/v1/customers", f"/v1/customers/{customer['id']}"]

"""`python -m stripe_double --port 12111 --webhook-url http://127.0.0.1:5000/stripe/webhook ...`"""

from __future__ import annotations

import argparse
import sys

from .app import DoubleServer
from .config import DoubleConfig, parse_rate_limit


def _rate_limit(text: str) -> int | None:
    try:
        return parse_rate_limit(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_args(argv: list[str]) -> DoubleConfig:
    """Flags override environment variables (STRIPE_DOUBLE_PORT, STRIPE_DOUBLE_WEBHOOK_URL, ...)."""
    config = DoubleConfig.from_env()
    parser = argparse.ArgumentParser(prog="python -m stripe_double", description=__doc__)
    parser.add_argument("--host", default=config.host)
    parser.add_argument("--port", type=int, default=config.port)
    parser.add_argument("--webhook-url", default=config.webhook_url)
    parser.add_argument("--webhook-secret", default=config.webhook_secret)
    parser.add_argument("--state-file", default=config.state_file)
    parser.add_argument("--api-key", default=config.api_key, help="accept only this key (default: any)")
    parser.add_argument("--public-url", default=config.public_url, help="address browsers use")
    parser.add_argument("--portal-url", default=config.portal_url,
                        help="address browsers use for the Billing Portal (default: the Checkout address under its "
                             "other loopback name, 127.0.0.1 <-> localhost: an origin of its own)")
    parser.add_argument("--tick-seconds", type=float, default=config.tick_seconds)
    parser.add_argument("--webhook-concurrency", type=int, default=config.delivery_concurrency,
                        help="webhook deliveries in flight at once (default 1)")
    parser.add_argument("--rate-limit", type=_rate_limit, default=config.rate_limit, metavar="N",
                        help="answer 429 (rate_limit) past N API requests in any one second, as Stripe does past "
                             "25 in test mode and 100 live (default: no limit; 0 = none)")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    parser.add_argument("--demo-clock", action="store_true",
                        help="put customers created by Checkout on one shared test clock (demo renewals)")
    args = parser.parse_args(argv)
    config.host, config.port = args.host, args.port
    config.webhook_url, config.webhook_secret = args.webhook_url, args.webhook_secret
    config.state_file, config.api_key, config.public_url = args.state_file, args.api_key, args.public_url
    config.tick_seconds, config.quiet = args.tick_seconds, not args.verbose
    config.delivery_concurrency = max(1, args.webhook_concurrency)
    config.demo_clock = args.demo_clock
    config.portal_url = args.portal_url
    config.rate_limit = args.rate_limit
    return config


def main(argv: list[str] | None = None) -> None:
    """Serve until Ctrl-C."""
    config = parse_args(sys.argv[1:] if argv is None else argv)
    server = DoubleServer(config).start()
    print(f"Stripe double at {server.url} (dashboard: {server.url}/; Portal at {server.portal_url})", flush=True)
    if config.rate_limit:
        print(f"Rate limit: {config.rate_limit} API requests a second (429 past it)", flush=True)
    if config.webhook_url:
        print(f"Webhooks → {config.webhook_url}", flush=True)
    server.run_until_interrupted()


if __name__ == "__main__":
    main()

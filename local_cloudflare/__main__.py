"""`python -m local_cloudflare --port 8787`: serve the local Cloudflare API by hand.

Runs on the wall clock (a new secret is `pending` for `--pending-seconds` of real time).
Point the official client at it with CLOUDFLARE_BASE_URL and CLOUDFLARE_API_TOKEN.
"""

from __future__ import annotations

import argparse
import os

from .server import LocalCloudflare
from .state import system_clock


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m local_cloudflare", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8787, help="0 picks a free port (default 8787)")
    parser.add_argument(
        "--token",
        action="append",
        help="an accepted API token; repeatable (default: $CLOUDFLARE_API_TOKEN or 'local-token')",
    )
    parser.add_argument(
        "--account",
        action="append",
        default=[],
        help="seed this account id with default_secrets_store; repeatable",
    )
    parser.add_argument(
        "--pending-seconds", type=float, default=0.0, help="how long a new secret stays pending"
    )
    parser.add_argument(
        "--kv-namespace",
        action="append",
        default=[],
        metavar="ID",
        help="seed this KV namespace id in every --account; repeatable",
    )
    args = parser.parse_args(argv)
    tokens = args.token or [os.environ.get("CLOUDFLARE_API_TOKEN") or "local-token"]
    server = LocalCloudflare(
        tokens=tokens,
        pending_seconds=args.pending_seconds,
        clock=system_clock,
        accounts=args.account,
        host=args.host,
        port=args.port,
    )
    for account in args.account:
        for namespace_id in args.kv_namespace:
            server.seed_kv_namespace(account, f"namespace {namespace_id}", namespace_id)
    print(f"local Cloudflare API on {server.base_url} (set CLOUDFLARE_BASE_URL to it)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


if __name__ == "__main__":
    main()

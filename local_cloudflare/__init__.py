"""The project's own local Cloudflare v4 API: stateful, on loopback, for tests and demos.

It keeps Cloudflare's documented rules for what this project touches (Secrets Store
stores and secrets, Workers scripts and their bindings, KV namespaces) and answers the
official `cloudflare` Python library exactly as the real API's envelope does:

    from cloudflare import Cloudflare
    from local_cloudflare import serve

    with serve(tokens={"test-token"}, accounts=[ACCOUNT], pending_seconds=5) as cf:
        client = Cloudflare(api_token="test-token", base_url=cf.base_url)
        store = next(iter(client.secrets_store.stores.list(account_id=ACCOUNT)))
        cf.advance(5)  # pending secrets turn active without sleeping

`state` holds the rules (see its docstring for which Cloudflare behaviour each mirrors);
`server` holds the HTTP layer. `python -m local_cloudflare --port 8787` serves one by hand.
"""

from .server import LocalCloudflare, serve
from .state import CloudflareError, ManualClock, State

__all__ = ["CloudflareError", "LocalCloudflare", "ManualClock", "State", "serve"]

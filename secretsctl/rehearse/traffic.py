"""Live traffic for the rehearsal: what each worker is asked, and what counts as a failure.

Per batch, every worker that binds a rotated secret gets a bounded number of
requests in the shape its module understands. Answers are checked for real:
values written to vault must read back unchanged, tokens and signatures must
verify until they expire, upstream calls must succeed. The ledgers (values
written, tokens issued) persist across stages, so a later stage is checked
against everything earlier stages did.
"""

from __future__ import annotations

import base64
import json
import secrets as pysecrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from secretsctl.rehearse.driver import Request, Response
from secretsctl.rehearse.stages import AUTH_MODULE, Deployment, LoginClient

# Main module -> (its secret binding, traffic profile). auth.js is reached through gateway.
PROFILES: dict[str, tuple[str, str]] = {
    "api.js": ("PRIMARY_KEY", "upstream"),
    "billing.js": ("BILLING_KEY", "upstream"),
    "audited.js": ("API_KEY", "upstream"),
    "legacy.js": ("API_KEY", "upstream"),
    "vault.js": ("ENCRYPTION_KEY", "vault"),
    "gateway.js": ("JWT_KEY", "gateway"),
    "signer.js": ("HMAC_SECRET", "signer"),
    # The TypeScript example, built by esbuild (workers/examples/edge-signer).
    "edge_signer.js": ("HMAC_SECRET", "signer"),
}
# Exercised through another worker's profile (gateway.js logs in at auth.js): no traffic
# of its own.
REACHED_THROUGH = frozenset({AUTH_MODULE})
# A worker whose module no profile knows: plain GET requests, where a 5xx (or no answer)
# fails, as a worker that cannot read its secret binding answers.
PLAIN = "plain"
DEFAULT_JWT_LEEWAY_S = 30  # gateway.js's default when JWT_LEEWAY_SECONDS is not bound
SAFETY_MARGIN_S = 0.5  # stop expecting a token to verify this long before it expires


@dataclass(frozen=True)
class Outcome:
    """One checked request: which secret it exercised, and how it went."""

    secret: str
    schedule: str | None
    ok: bool
    fallback: bool
    ms: float
    reason: str | None = None
    """Why it failed: an error code or a check name, never a value."""
    promised: bool = False
    """A failure the emergency path promises (README, "A leaked key"): a token or signature
    made with a signing key the emergency dropped."""


@dataclass(frozen=True)
class Signed:
    """A token or signature issued during the rehearsal, to check again later."""

    secret: str
    script: str
    kid: str
    expires_at: float
    """Wall-clock second after which the verifier may reject it (exp + leeway)."""
    token: str = field(repr=False)
    data: str = ""


@dataclass(frozen=True)
class Sizes:
    """Bounds on one traffic batch."""

    upstream_per_tenant: int = 3
    writes: int = 4
    reads: int = 8
    issues: int = 4
    verifies: int = 8
    plain: int = 4


Check = Callable[[Response], Outcome]


class Traffic:
    """Builds request batches for a deployment and checks their answers against the ledgers."""

    def __init__(
        self,
        rotated: Mapping[str, str],
        tenants: list[str],
        token_ttl_s: int,
        client: LoginClient,
        sizes: Sizes = Sizes(),
        safety_margin_s: float | None = None,
    ) -> None:
        self.rotated = dict(rotated)
        """Secret -> kind, for the secrets this rehearsal rotates (the only ones it drives)."""
        self.tenants = tenants
        self.token_ttl_s = token_ttl_s
        """Signatures are held to this window; tokens to the exp auth.js writes in them."""
        self.login = {"authorization": client.authorization()}
        """How every /login authenticates (the client every LOGIN_CLIENTS value lists)."""
        self.sizes = sizes
        self.margin = SAFETY_MARGIN_S if safety_margin_s is None else safety_margin_s
        """A token is verified only if it has this long left when its request is built."""
        self.values: dict[str, tuple[str, str, str]] = {}
        """Value id -> (secret, vault script, plaintext): everything written so far."""
        self.signed: list[Signed] = []
        self.dropped_kids: set[str] = set()
        """Signing keys an emergency dropped: what they signed fails, as promised."""
        self._counter = 0
        self._rr = 0

    # -- which worker exercises which secret

    def targets(self, dep: Deployment, secret_of: Mapping[str, str]) -> list[tuple[str, str, str]]:
        """(script, profile, secret) for every worker whose main binding is a rotated secret;
        a worker with no profile, once per rotated secret it binds (profile `plain`)."""
        out = []
        for script, module in sorted(dep.modules.items()):
            if module in REACHED_THROUGH:
                continue
            if module not in PROFILES:
                bound = {secret_of.get(cf) for cf in dep.bindings.get(script, {}).values()}
                out += [(script, PLAIN, s) for s in sorted(self.rotated) if s in bound]
                continue
            binding, profile = PROFILES[module]
            secret = secret_of.get(dep.bindings.get(script, {}).get(binding, ""))
            if secret in self.rotated:
                out.append((script, profile, secret))
        return out

    def unprofiled(self, deps: Iterable[Deployment], secret_of: Mapping[str, str]) -> list[str]:
        """One note per worker no traffic profile knows: what it was sent, if anything."""
        modules = {script: m for dep in deps for script, m in dep.modules.items()}
        reached = {script for dep in deps for script, _, _ in self.targets(dep, secret_of)}
        return [
            f"worker {script} ({module}) has no traffic profile: "
            + (
                "it got plain GET / requests only (a 5xx answer, or none, counts as a failure)"
                if script in reached
                else "it binds none of the secrets rotated here, so it got no traffic"
            )
            for script, module in sorted(modules.items())
            if module not in PROFILES and module not in REACHED_THROUGH
        ]

    def _id(self) -> str:
        self._counter += 1
        return f"r{self._counter:05d}"

    # -- one batch

    def batch(
        self, dep: Deployment, secret_of: Mapping[str, str], schedules: Mapping[str, str]
    ) -> list[tuple[Request, Check]]:
        """Requests for one batch. `schedules`: upstream tenant -> schedule name."""
        now = time.time()
        s = self.sizes
        out: list[tuple[Request, Check]] = []
        for script, profile, secret in self.targets(dep, secret_of):
            if profile == "upstream":
                for tenant in self.tenants:
                    for _ in range(s.upstream_per_tenant):
                        path = f"/{tenant}/{self._id()}"
                        out.append(
                            (Request(script, "GET", path), _upstream(secret, schedules.get(tenant)))
                        )
            elif profile == "vault":
                for _ in range(s.writes):
                    vid, text = self._id(), pysecrets.token_urlsafe(18)
                    out.append(
                        (
                            Request(script, "PUT", f"/v/{vid}", body=text),
                            self._wrote(secret, script, vid, text),
                        )
                    )
                for vid in self._sample(
                    [
                        v
                        for v, (sec, sc, _) in self.values.items()
                        if sec == secret and sc == script
                    ],
                    s.reads,
                ):
                    out.append((Request(script, "GET", f"/v/{vid}"), self._read(vid)))
            elif profile == "gateway":
                leeway = _leeway(dep.plain.get(script, {}))
                for _ in range(s.issues):
                    out.append(
                        (
                            Request(script, "POST", "/login", headers=self.login),
                            self._issued(secret, script, leeway),
                        )
                    )
                live = [
                    t
                    for t in self.signed
                    if t.script == script and not t.data and now < t.expires_at - self.margin
                ]
                for t in self._sample(live, s.verifies):
                    out.append(
                        (
                            Request(
                                script, "GET", "/me", headers={"authorization": f"Bearer {t.token}"}
                            ),
                            self._verified(t),
                        )
                    )
            elif profile == PLAIN:
                for _ in range(s.plain):
                    out.append((Request(script, "GET", "/"), _answered(secret)))
            elif profile == "signer":
                window = self.token_ttl_s + 1  # held to the same lifetime as the tokens
                for _ in range(s.issues):
                    data = self._id()
                    out.append(
                        (
                            Request(script, "POST", "/sign", body=data),
                            self._signed(secret, script, data, window),
                        )
                    )
                live = [
                    t
                    for t in self.signed
                    if t.script == script and t.data and now < t.expires_at - self.margin
                ]
                for t in self._sample(live, s.verifies):
                    out.append(
                        (
                            Request(
                                script,
                                "POST",
                                "/verify",
                                body=t.data,
                                headers={"x-signature": t.token},
                            ),
                            self._verified(t),
                        )
                    )
        return out

    def _sample(self, items: list, n: int) -> list:
        """Up to n items, newest first then round-robin through older ones (deterministic)."""
        if len(items) <= n:
            return list(items)
        newest = items[-(n // 2) :]
        older = items[: -(n // 2)]
        picked = []
        for _ in range(n - len(newest)):
            picked.append(older[self._rr % len(older)])
            self._rr += 1
        return picked + newest

    # -- operator requests and final checks

    def reencrypt(
        self, dep: Deployment, secret_of: Mapping[str, str]
    ) -> list[tuple[Request, Check]]:
        """`POST /reencrypt` on every vault worker (the careful operator, in `swapped`)."""
        return [
            (Request(script, "POST", "/reencrypt"), _status_ok(secret, "reencrypt_failed"))
            for script, profile, secret in self.targets(dep, secret_of)
            if profile == "vault"
        ]

    def read_back_all(self) -> list[tuple[Request, Check]]:
        """Read every value ever written: the end-of-rehearsal check for lost values."""
        return [
            (Request(script, "GET", f"/v/{vid}"), self._read(vid))
            for vid, (_, script, _) in self.values.items()
        ]

    def verify_all_live(self) -> list[tuple[Request, Check]]:
        """Verify every token/signature not yet expired: they must all still verify."""
        now = time.time()
        out: list[tuple[Request, Check]] = []
        for t in self.signed:
            if now >= t.expires_at - self.margin:
                continue
            if t.data:
                out.append(
                    (
                        Request(
                            t.script,
                            "POST",
                            "/verify",
                            body=t.data,
                            headers={"x-signature": t.token},
                        ),
                        self._verified(t),
                    )
                )
            else:
                out.append(
                    (
                        Request(
                            t.script, "GET", "/me", headers={"authorization": f"Bearer {t.token}"}
                        ),
                        self._verified(t),
                    )
                )
        return out

    def live_signed_by(self, kids: set[str]) -> list[Signed]:
        """Tokens/signatures made with one of `kids` that may still be presented."""
        now = time.time()
        return [t for t in self.signed if t.kid in kids and now < t.expires_at]

    # -- checks that update the ledgers

    def _verified(self, t: Signed) -> Check:
        def check(r: Response) -> Outcome:
            # A token can expire in flight on a loaded machine (built with the margin left,
            # answered after its exp + leeway): the verifier was right to refuse it. Refused
            # as expired while it was still live when the answer came back is a failure.
            expired_in_flight = r.error_code() == "token_expired" and time.time() >= t.expires_at
            ok = r.status == 200 or expired_in_flight
            reason = None if ok else f"verify: {r.error_code()}"
            promised = not ok and t.kid in self.dropped_kids
            return Outcome(t.secret, None, ok, False, r.ms, reason, promised)

        return check

    def _wrote(self, secret: str, script: str, vid: str, text: str) -> Check:
        def check(r: Response) -> Outcome:
            if r.status == 200:
                self.values[vid] = (secret, script, text)
                return Outcome(secret, None, True, False, r.ms)
            return Outcome(secret, None, False, False, r.ms, f"write: {r.error_code()}")

        return check

    def _read(self, vid: str) -> Check:
        secret, _, text = self.values[vid]

        def check(r: Response) -> Outcome:
            if r.status == 200 and r.body == text:
                return Outcome(secret, None, True, False, r.ms)
            reason = "read: wrong_value" if r.status == 200 else f"read: {r.error_code()}"
            return Outcome(secret, None, False, False, r.ms, reason)

        return check

    def _issued(self, secret: str, script: str, leeway: int) -> Check:
        def check(r: Response) -> Outcome:
            token = _json(r.body).get("token") if r.status == 200 else None
            if not isinstance(token, str) or token.count(".") != 2:
                return Outcome(secret, None, False, False, r.ms, f"issue: {r.error_code()}")
            header, payload = (_b64json(p) for p in token.split(".")[:2])
            exp = float(payload.get("exp", 0))
            self.signed.append(Signed(secret, script, str(header.get("kid")), exp + leeway, token))
            return Outcome(secret, None, True, False, r.ms)

        return check

    def _signed(self, secret: str, script: str, data: str, window: float) -> Check:
        def check(r: Response) -> Outcome:
            sig = _json(r.body).get("signature") if r.status == 200 else None
            if not isinstance(sig, str) or sig.count(".") != 2:
                return Outcome(secret, None, False, False, r.ms, f"sign: {r.error_code()}")
            self.signed.append(
                Signed(secret, script, sig.split(".")[1], time.time() + window, sig, data)
            )
            return Outcome(secret, None, True, False, r.ms)

        return check


def _upstream(secret: str, schedule: str | None) -> Check:
    def check(r: Response) -> Outcome:
        ok = 200 <= r.status < 300
        return Outcome(
            secret, schedule, ok, r.fallback, r.ms, None if ok else f"upstream: {r.error_code()}"
        )

    return check


def _answered(secret: str) -> Check:
    def check(r: Response) -> Outcome:
        ok = 0 < r.status < 500
        # The status only: a worker we know nothing of may put anything in its body.
        reason = None if ok else f"get: http_{r.status}" if r.status else "get: no_answer"
        return Outcome(secret, None, ok, r.fallback, r.ms, reason)

    return check


def _status_ok(secret: str, reason: str) -> Check:
    def check(r: Response) -> Outcome:
        ok = r.status == 200
        return Outcome(secret, None, ok, False, r.ms, None if ok else reason)

    return check


def _leeway(plain: Mapping[str, str]) -> int:
    try:
        return int(plain["JWT_LEEWAY_SECONDS"])
    except (KeyError, ValueError):
        return DEFAULT_JWT_LEEWAY_S


def _json(text: str) -> dict:
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _b64json(part: str) -> dict:
    try:
        data = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}

"""Per-bucket and global rate limits, shaped like Discord's.

Buckets are fixed windows keyed by a rule plus the route's major parameter (channel id, guild id, or
webhook id + token), which is how Discord counts them. Every limited response carries the
``X-RateLimit-*`` headers discord.py reads; discord.py sleeps pre-emptively when ``Remaining`` hits 0, so
a well-behaved client should never see a 429 from these buckets unless a test makes them tight.

Rule keys are ``"METHOD /template"`` strings whose placeholders may have any name (``{}`` works too):
``"PATCH /channels/{channel_id}/messages/{message_id}"`` and ``"PATCH /channels/{}/messages/{}"`` are the
same key.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any

_PLACEHOLDER = re.compile(r"\{[^}]*\}")


def normalize_route(route: str, method: str | None = None) -> str:
    """Canonical ``"METHOD /path/{}/..."`` form of a route template (placeholder names dropped)."""
    route = route.strip()
    if " " in route:
        maybe_method, rest = route.split(" ", 1)
        method, route = maybe_method, rest.strip()
    if route.startswith("/api/v10"):
        route = route[len("/api/v10") :]
    route = _PLACEHOLDER.sub("{}", route.split("?", 1)[0])
    return f"{(method or '*').upper()} {route}"


@dataclass
class Rule:
    """``limit`` requests per ``per`` seconds; ``limit=None`` means unlimited (no headers, never 429)."""

    name: str
    limit: int | None
    per: float

    @property
    def bucket_hash(self) -> str:
        # Discord's bucket ids are opaque; a stable digest of the rule name behaves the same for clients.
        return hashlib.sha1(self.name.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {"limit": self.limit, "per": self.per, "bucket": self.bucket_hash}


@dataclass
class _Window:
    started: float
    count: int = 0


@dataclass
class Decision:
    """The outcome of one check: whether to serve, the headers to add, and 429 details otherwise."""

    allowed: bool
    headers: dict[str, str] = field(default_factory=dict)
    retry_after: float = 0.0
    is_global: bool = False


# Modelled on what Discord reports for bots; webhook routes (interaction followups and @original)
# share one bucket per token, and the interaction callback is not limited at all.
DEFAULT_ROUTE_RULES: dict[str, tuple[int | None, float]] = {
    "POST /channels/{}/messages": (5, 5.0),
    "PATCH /channels/{}/messages/{}": (5, 5.0),
    "DELETE /channels/{}/messages/{}": (5, 1.0),
    "GET /channels/{}/messages": (5, 1.0),
    "GET /channels/{}/messages/{}": (5, 1.0),
    "PUT /applications/{}/commands": (20, 20.0),
    "PUT /applications/{}/guilds/{}/commands": (20, 20.0),
    "POST /interactions/{}/{}/callback": (None, 1.0),
}
DEFAULT_WEBHOOK_RULE = (5, 2.0)
DEFAULT_OTHER_RULE = (50, 1.0)
DEFAULT_GLOBAL_RULE = (50, 1.0)


class RateLimiter:
    """Counts requests per bucket and decides whether to answer 429."""

    def __init__(self) -> None:
        self.routes: dict[str, Rule] = {}
        for key, (limit, per) in DEFAULT_ROUTE_RULES.items():
            self.routes[key] = Rule(key, limit, per)
        self.webhook = Rule("webhook-token", *DEFAULT_WEBHOOK_RULE)
        self.default = Rule("default", *DEFAULT_OTHER_RULE)
        self.global_rule = Rule("global", *DEFAULT_GLOBAL_RULE)
        self._windows: dict[tuple[str, str], _Window] = {}

    # -- configuration -------------------------------------------------------------------------------

    def configure(self, config: dict[str, Any]) -> None:
        """Apply ``{"routes": {key: {limit, per}}, "webhook": {...}, "default": {...}, "global": {...}}``."""
        for key, spec in (config.get("routes") or {}).items():
            norm = normalize_route(key)
            if spec is None:
                self.routes.pop(norm, None)
                continue
            self.routes[norm] = _rule_from(norm, spec, self.routes.get(norm))
        for attr, name in (("webhook", "webhook-token"), ("default", "default"), ("global", "global")):
            if attr in config and config[attr] is not None:
                target = "global_rule" if attr == "global" else attr
                setattr(self, target, _rule_from(name, config[attr], getattr(self, target)))
        # New limits start from fresh windows; stale counts would make the first requests look wrong.
        self._windows.clear()

    def snapshot(self) -> dict[str, Any]:
        return {
            "routes": {key: rule.to_dict() for key, rule in sorted(self.routes.items())},
            "webhook": self.webhook.to_dict(),
            "default": self.default.to_dict(),
            "global": self.global_rule.to_dict(),
        }

    # -- checking ------------------------------------------------------------------------------------

    def rule_for(self, method: str, template: str) -> Rule:
        key = normalize_route(template, method)
        rule = self.routes.get(key) or self.routes.get(normalize_route(template, "*"))
        if rule is not None:
            return rule
        if template.startswith("/webhooks/{webhook_id}/{webhook_token}"):
            return self.webhook
        return self.default

    def check(self, method: str, template: str, major: str, *, bot_route: bool) -> Decision:
        """Count one request; ``bot_route`` routes also count against the global limit."""
        now = time.monotonic()
        if bot_route and self.global_rule.limit is not None:
            window = self._window(("global", ""), self.global_rule, now)
            if window.count >= self.global_rule.limit:
                retry = _round_up(window.started + self.global_rule.per - now)
                return Decision(
                    allowed=False,
                    retry_after=retry,
                    is_global=True,
                    headers={"X-RateLimit-Global": "true", "X-RateLimit-Scope": "global"},
                )
            window.count += 1

        rule = self.rule_for(method, template)
        if rule.limit is None:
            return Decision(allowed=True)
        window = self._window((rule.name, major), rule, now)
        reset_after = _round_up(window.started + rule.per - now)
        headers = {
            "X-RateLimit-Limit": str(rule.limit),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": rule.bucket_hash,
        }
        if window.count >= rule.limit:
            headers["X-RateLimit-Remaining"] = "0"
            headers["X-RateLimit-Scope"] = "user"
            return Decision(allowed=False, headers=headers, retry_after=reset_after)
        window.count += 1
        headers["X-RateLimit-Remaining"] = str(rule.limit - window.count)
        return Decision(allowed=True, headers=headers)

    def _window(self, key: tuple[str, str], rule: Rule, now: float) -> _Window:
        window = self._windows.get(key)
        if window is None or now >= window.started + rule.per:
            window = _Window(started=now)
            self._windows[key] = window
        return window


def _rule_from(name: str, spec: Any, current: Rule | None) -> Rule:
    if not isinstance(spec, dict):
        raise ValueError(f"rate-limit rule for {name!r} must be an object with limit and per")
    limit = spec.get("limit", current.limit if current else None)
    per = float(spec.get("per", current.per if current else 1.0))
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit for {name!r} must be a non-negative integer or null")
    if per <= 0:
        raise ValueError(f"per for {name!r} must be positive")
    return Rule(name, limit, per)


def _round_up(seconds: float) -> float:
    # Rounded up to the millisecond so a client that sleeps exactly this long lands after the reset.
    return max(0.001, math.ceil(seconds * 1000) / 1000)

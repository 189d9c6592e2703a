"""Rate limits, atomic on Redis, one round trip per call. Every counter in Identity lives here.

Each limit is a GCRA (generic cell rate algorithm) bucket: "N per period" lets N attempts through at
once, then one more every period/N. Past the limit nobody is locked out; they wait until the next
attempt is due, and are told when that is (429 with Retry-After).

A counter is a (limit name, subject) pair, e.g. ("signin-account", "ada@example.com"). Subjects are
hashed before they reach Redis. Counters that belong to an account (per account, per IP+account) are
fields of one Redis hash per account, so an admin can clear everything about an account at once.
All counters of one call are checked and changed together by a Lua script, so parallel requests can
never slip past a limit between a read and a write.

On a Redis Cluster a script may only touch keys of one hash slot, and one call's counters are about
different subjects (an address and an account), which belong on different masters. So each subject's
counters share a hash tag, the keyed hash of the subject (or, for an account-scoped subject, of the
account): `rl:signin-account:{<account>}` and `rl:signin-ip-account:{<account>}` are in one slot,
`rl:signin-ip:{<address>}` in another. A call runs the script once per slot, in one pipelined round
trip: checks, refunds and clears need nothing more, since each counter is changed on its own terms. A
hit must count on every counter or on none, so when some slot refuses it, the slots that counted give
their attempt back at once. Each counter stays atomic, so no counter ever lets more through than its
limit; the only cost is that, for that moment, a parallel attempt may be refused by an attempt that was
itself refused. On one server (or Sentinel) every call is still a single script over all its counters.

When Redis is unreachable, the redis error propagates and the request answers 503: nothing is let
through uncounted.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, replace
from functools import cache
from typing import Any, Literal

from django.conf import settings
from redis.crc import key_slot
from redis.exceptions import NoScriptError

from identity.metrics import RATE_LIMITED
from identity.redis import Client, connection, is_cluster

_PERIOD_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "y": 365 * 86400}

# Modes of the script. peek: would the next attempt pass? hit: consume one if every counter allows it.
# refund: give one back (an attempt that turned out to be fine). clear: forget the counters.
# forgive: refund the first counter and clear the others (a right password), in the same round trip.
# used: how far ahead of now the first counter's next attempt is due (for admin pages), by the same clock.
_SCRIPT = """
local mode = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if mode == 'used' then
  local tat = tonumber(redis.call('HGET', KEYS[1], ARGV[2]) or now)
  return {math.max(0, tat - now), 0}
end
local worst = 0
local tripped = 0
local state = {}
for i = 1, #KEYS do
  local base = 1 + (i - 1) * 3
  local field, interval, burst = ARGV[base + 1], tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3])
  if mode == 'clear' or (mode == 'forgive' and i > 1) then
    redis.call('HDEL', KEYS[i], field)
  else
    local tat = tonumber(redis.call('HGET', KEYS[i], field) or now)
    if tat < now then tat = now end
    local wait = tat + interval - interval * burst - now
    if wait > worst then worst = wait; tripped = i end
    state[i] = {tat, interval}
  end
end
if mode == 'clear' or mode == 'peek' or (mode == 'hit' and worst > 0) then
  return {worst, tripped}
end
local last = #KEYS
if mode == 'forgive' then last = 1 end
for i = 1, last do
  local base = 1 + (i - 1) * 3
  local tat, interval = state[i][1], state[i][2]
  local new_tat
  if mode == 'hit' then new_tat = tat + interval else new_tat = math.max(now, tat - interval) end
  if new_tat <= now then
    redis.call('HDEL', KEYS[i], ARGV[base + 1])
  else
    redis.call('HSET', KEYS[i], ARGV[base + 1], new_tat)
    if redis.call('PTTL', KEYS[i]) < new_tat - now then redis.call('PEXPIRE', KEYS[i], new_tat - now) end
  end
end
return {0, 0}
"""


@dataclass(frozen=True)
class Limit:
    count: int
    period: int  # seconds

    @classmethod
    def parse(cls, spec: str) -> Limit:
        """'10/15m' is 10 per 15 minutes; units s, m, h, d, y."""
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d*)\s*([smhdy])\s*", spec)
        if not match:
            raise ValueError(f"not a rate limit: {spec!r}")
        count, amount, unit = match.groups()
        limit = cls(int(count), int(amount or 1) * _PERIOD_UNITS[unit])
        if limit.count < 1 or limit.period < 1:
            raise ValueError(f"a rate limit needs at least one attempt in a non-empty period: {spec!r}")
        return limit

    @property
    def interval_ms(self) -> int:
        return max(1, self.period * 1000 // self.count)


class _SignedIn:
    def __repr__(self) -> str:
        return "SIGNED_IN"


SIGNED_IN: Any = _SignedIn()  # an Audit's user when the attempt names no account: whoever is signed in


@dataclass(frozen=True)
class Audit:
    """The row a refusal leaves in the audit trail (accounts writes it: see identity.refusals.throttled).
    As the limiter raises it: a "throttled" event for whoever is signed in, naming the limits that refused."""

    kind: str = "throttled"
    user: Any = SIGNED_IN  # or the account the attempt was on; None for none (an unknown address)
    method: str = ""
    reason: str | None = None  # None: the limits that refused


Answer = Literal["page", "json", "oauth", "scim"]


class RateLimited(Exception):
    """A refused attempt: a counter is over its limit. The limiter raises it knowing only the wait and
    the limits; the code that knows what was attempted says the rest with `saying` (what the person is
    told, which audit row it leaves, whether a page, JSON or an OAuth error answers), and
    identity.refusals.respond turns it into the response and audits it, once. Never changed once made."""

    def __init__(
        self,
        retry_after: int | None,
        limits: tuple[str, ...] = (),
        *,
        message: str | None = None,
        audit: Audit | None = Audit(),
        answer: Answer = "page",
    ):
        super().__init__(f"rate limited for {retry_after}s")
        self.retry_after = retry_after  # None: waiting does not help (a cap), so no wait is promised
        self.limits = limits
        self.message = message  # may say %(wait)s; None: the 429 page's own words
        self.audit = audit  # None: no audit row
        self.answer = answer

    def saying(self, message: str | None, *, audit: Audit | None, answer: Answer = "page") -> RateLimited:
        """This refusal, with what to tell the person and what to audit."""
        return RateLimited(self.retry_after, self.limits, message=message, audit=audit, answer=answer)

    def without_wait(self) -> RateLimited:
        """This refusal past a cap, where waiting does not help: no Retry-After and no wait in its
        words; the page says what helps instead."""
        return RateLimited(None, self.limits, audit=self.audit, answer=self.answer)


Counter = tuple[str, str]  # (limit name, subject)
_SCOPE = "\x1f"  # separates an account from the rest of a subject; never part of an email address


def _digest(value: str) -> str:
    # Keyed with the site's secret, so a Redis dump cannot be reversed by trying every IPv4 address.
    return hmac.new(settings.SECRET_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()[:24]


def limit_for(name: str) -> Limit:
    return _parsed(settings.RATE_LIMITS[name])


@cache
def _parsed(spec: str) -> Limit:
    """Specs are parsed once each, not on every check (keyed by the spec, so overrides still apply)."""
    return Limit.parse(spec)


def _location(name: str, subject: str) -> tuple[str, str]:
    """The Redis hash and field of a counter. Account-scoped subjects ('acct|rest') share one hash. The
    hash tag ({...}) is the subject's (or the account's): all counters about it are in one slot."""
    scope, _, rest = subject.partition(_SCOPE)
    if rest:
        return f"rl:{name}:{{{_digest(scope)}}}", _digest(rest)
    return f"rl:{name}:{{{_digest(subject)}}}", "-"


@dataclass(frozen=True)
class _Call:
    """One run of the script: its mode, its keys (all in one slot on a cluster) and arguments, and which
    of the caller's counters they are, by position."""

    mode: str
    keys: tuple[str, ...]
    args: tuple[str | int, ...]
    positions: tuple[int, ...]


def _calls(mode: str, counters: tuple[Counter, ...], *, per_slot: bool) -> list[_Call]:
    """The script runs for a call: one over every counter, or (`per_slot`, on a cluster) one per hash slot.
    Forgiving refunds the first counter and clears the rest, so the other slots are only cleared."""
    located = []
    for name, subject in counters:
        key, field = _location(name, subject)
        limit = limit_for(name)
        located.append((key, (field, limit.interval_ms, limit.count)))
    groups: dict[int, list[int]] = {}
    for position, (key, _args) in enumerate(located):
        groups.setdefault(key_slot(key.encode()) if per_slot else 0, []).append(position)
    calls = []
    for positions in groups.values():
        group_mode = "clear" if mode == "forgive" and positions[0] != 0 else mode
        args = tuple(arg for position in positions for arg in located[position][1])
        calls.append(_Call(group_mode, tuple(located[p][0] for p in positions), args, tuple(positions)))
    return calls


def _execute(client: Client, calls: list[_Call]) -> list[tuple[int, int]]:
    """(milliseconds to wait, the 1-based position in the call of the counter that makes it wait, or 0) of
    each call. Several calls go in one non-transactional pipeline: one round trip to each master."""
    script = _script(client)
    if len(calls) == 1:
        call = calls[0]
        wait, tripped = script(keys=list(call.keys), args=[call.mode, *call.args])
        return [(int(wait), int(tripped))]
    pipe = client.pipeline(transaction=False)
    for call in calls:
        # Not pipe.evalsha, which redis-py's cluster pipeline refuses although it routes EVALSHA by its keys.
        pipe.execute_command("EVALSHA", script.sha, len(call.keys), *call.keys, call.mode, *call.args)
    results = pipe.execute(raise_on_error=False)
    for index, result in enumerate(results):
        if isinstance(result, NoScriptError):  # a master that has not seen the script (a promoted replica)
            call = calls[index]
            results[index] = script(keys=list(call.keys), args=[call.mode, *call.args])
        elif isinstance(result, Exception):
            raise result
    return [(int(wait), int(tripped)) for wait, tripped in results]


def _run(mode: str, counters: tuple[Counter, ...]) -> tuple[int, str]:
    """(milliseconds to wait, the limit that makes it wait, or "") for the next attempt on these counters."""
    client = connection()
    calls = _calls(mode, counters, per_slot=is_cluster(client))
    results = _execute(client, calls)
    if mode == "hit" and len(calls) > 1 and any(wait > 0 for wait, _ in results):
        counted = [replace(call, mode="refund") for call, (wait, _) in zip(calls, results, strict=True) if wait <= 0]
        if counted:
            _execute(client, counted)  # the slots that counted a refused attempt give it back
    worst, tripped = 0, -1
    for call, (wait, index) in zip(calls, results, strict=True):
        position = call.positions[index - 1] if index else -1
        if wait > worst or (wait == worst > 0 and position < tripped):
            worst, tripped = wait, position
    return worst, (counters[tripped][0] if worst > 0 else "")


@cache
def _script(client):
    """EVALSHA with a fallback to loading the script, so each call sends only the hash."""
    return client.register_script(_SCRIPT)


def _seconds(ms: int) -> int:
    return max(1, -(-ms // 1000))


def _limited(wait: int, tripped: str, counters: tuple[Counter, ...]) -> RateLimited:
    """The refusal, naming the limit that tripped first (for the audit trail and the metric)."""
    RATE_LIMITED.labels(tripped).inc()
    others = tuple(name for name, _ in counters if name != tripped)
    return RateLimited(_seconds(wait), (tripped, *others))


def check(*counters: Counter) -> None:
    """Raise RateLimited if the next attempt on any of these counters would be over its limit."""
    wait, tripped = _run("peek", counters)
    if wait > 0:
        raise _limited(wait, tripped, counters)


def hit(*counters: Counter) -> None:
    """Count one attempt on every counter, or raise RateLimited (and count nothing) if any is over."""
    wait, tripped = _run("hit", counters)
    if wait > 0:
        raise _limited(wait, tripped, counters)


def refund(*counters: Counter) -> None:
    """Give back one attempt, for an attempt that turned out to be legitimate."""
    _run("refund", counters)


def clear(*counters: Counter) -> None:
    _run("clear", counters)


def forgive(refunded: Counter, *cleared: Counter) -> None:
    """After a right password: the address's attempt is given back (its other failures stand) and
    the account's counters start over, in one round trip instead of two."""
    _run("forgive", (refunded, *cleared))


def blocked_for(*counters: Counter) -> int:
    """Seconds until the next attempt is allowed (0 if it is now); for admin and pages."""
    wait, _tripped = _run("peek", counters)
    return _seconds(wait) if wait > 0 else 0


def used(counter: Counter) -> int:
    """How many attempts a counter currently holds (for admin pages)."""
    name, subject = counter
    key, field = _location(name, subject)
    limit = limit_for(name)
    [(remaining, _tripped)] = _execute(
        connection(), [_Call("used", (key,), (field, limit.interval_ms, limit.count), (0,))]
    )
    return -(-remaining // limit.interval_ms)


def clear_all(*names: str, subject: str) -> None:
    """Forget every counter of these limits for a subject, including all its narrowed variants
    (e.g. every IP's counter for one account)."""
    connection().delete(*(_location(name, subject)[0] for name in names))


def account_subject(email: str, extra: str = "") -> str:
    """A subject scoped to an account (by normalised address), optionally narrowed (e.g. by IP)."""
    return f"{email.lower()}{_SCOPE}{extra}" if extra else email.lower()


# Merges a counter hash of the layout before hash tags into its tagged name: each field keeps the later of
# its two next-attempt times (the stricter), the key the longer expiry.
_MOVE_SCRIPT = """
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  local current = tonumber(redis.call('HGET', KEYS[2], fields[i]) or 0)
  if tonumber(fields[i + 1]) > current then redis.call('HSET', KEYS[2], fields[i], fields[i + 1]) end
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 and redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
redis.call('DEL', KEYS[1])
return #fields / 2
"""
_UNTAGGED = re.compile(r"rl:(?P<name>[a-z-]+):(?P<digest>[0-9a-f]{24})")


def move_untagged_counters() -> int:
    """Counters stored before they had hash tags (`rl:<name>:<digest>`) under their tagged names, so that an
    upgrade on one server or Sentinel keeps every count, the 100-failure caps above all. Returns how many
    counters moved. A cluster started with the tags, and its keys of one call could not meet anyway."""
    client = connection()
    if is_cluster(client):
        return 0
    move = client.register_script(_MOVE_SCRIPT)
    moved = 0
    for raw in client.scan_iter(match="rl:*", count=1000):
        key = raw.decode() if isinstance(raw, bytes) else raw
        match = _UNTAGGED.fullmatch(key)
        if match:
            moved += int(move(keys=[key, f"rl:{match['name']}:{{{match['digest']}}}"]))
    return moved

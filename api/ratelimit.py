"""Per-key token buckets kept in Redis, so every API worker shares one budget per key.

One Lua script refills and takes a token atomically; the bucket expires once it would be full
again, so idle keys cost nothing.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from paystream.contracts.keys import key_part

# KEYS[1] bucket; ARGV rate/s, burst, now (s, float), cost.
# Returns {allowed (0/1), tokens left (floor), seconds until one token (ceil, ms)}.
_BUCKET_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then
  tokens = burst
  ts = now
end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
local wait_ms = 0
if allowed == 0 then
  wait_ms = math.ceil((cost - tokens) / rate * 1000)
end
return {allowed, math.floor(tokens), wait_ms}
"""


_BUCKET_SHA = hashlib.sha1(_BUCKET_SCRIPT.encode()).hexdigest()  # noqa: S324 (Redis's id)


@dataclass(frozen=True)
class Verdict:
    """Outcome of taking one token."""

    allowed: bool
    remaining: int
    retry_after_s: int


class RateLimiter:
    """Token bucket per key id in Redis."""

    def __init__(self, redis: Redis[Any], namespace: str, rate_per_s: float, burst: int) -> None:
        self.redis = redis
        self.prefix = f"{namespace}:api:ratelimit:"
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._script = redis.register_script(_BUCKET_SCRIPT)

    def bucket(self, key_id: str) -> str:
        """The bucket's key. A JWT's key id is ``jwt:<subject>``: encoded like any id, the
        subject can name no other bucket and choose no cluster slot."""
        return self.prefix + key_part(key_id)

    async def take(
        self, key_id: str, now_s: float, rate_per_s: float | None = None, burst: int | None = None
    ) -> Verdict:
        """Take one token from ``key_id``'s bucket (the key's own limits win if set)."""
        verdict, _ = await self.take_and_get(key_id, now_s, rate_per_s, burst, ())
        return verdict

    async def take_and_get(
        self,
        key_id: str,
        now_s: float,
        rate_per_s: float | None,
        burst: int | None,
        keys: Sequence[str],
    ) -> tuple[Verdict, list[Any]]:
        """Take one token and read ``keys`` (GET) in the same round trip.

        A pipeline rather than one script, so the keys may live in other cluster slots. The
        values are read whatever the verdict; the caller discards them when it is a refusal.
        """
        rate = rate_per_s or self.rate_per_s
        size = burst or self.burst
        args: list[str | float | int] = [rate, size, f"{now_s:.6f}", 1]
        if not keys:
            replies = [await self._script(keys=[self.bucket(key_id)], args=args)]
        else:
            try:
                replies = await self._pipeline(key_id, args, keys)
            except NoScriptError:
                # A restarted or flushed Redis: load the script once, then the same trip.
                await self.redis.script_load(_BUCKET_SCRIPT)  # type: ignore[no-untyped-call]
                replies = await self._pipeline(key_id, args, keys)
        allowed, remaining, wait_ms = replies[0]
        verdict = Verdict(bool(allowed), int(remaining), max(1, math.ceil(int(wait_ms) / 1000)))
        return verdict, list(replies[1:])

    async def _pipeline(
        self, key_id: str, args: list[str | float | int], keys: Sequence[str]
    ) -> list[Any]:
        # EVALSHA by hand: a pipeline given the Script object first asks SCRIPT EXISTS,
        # which is a second round trip on every request.
        pipe = self.redis.pipeline(transaction=False)
        pipe.evalsha(_BUCKET_SHA, 1, self.bucket(key_id), *args)
        for key in keys:
            pipe.get(key)
        return list(await pipe.execute())

"""The platform benchmark's HTTP side: payments posted open loop, reads beside them.

One aiohttp session with keep-alive connections carries everything, so the generator's
CPU stays small beside the platform it shares the cores with. Bodies are serialized once per
template; each post only adds its own ``Idempotency-Key`` (unique, so every post is a new
payment). Payment ``n`` is sent when it is due (``bench.lib.platform_stats.due_at``),
whether or not earlier answers came back; its send time, answer and intake latency are kept.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

from bench.lib.platform_stats import due_at
from bench.lib.stats import percentile

#: Connections the session may open; open-loop posts beyond them wait for one (timed).
CONNECTIONS = 100
#: One request's bound; a payment whose post takes longer counts as not accepted.
REQUEST_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class PaymentTemplate:
    """One simulated payment's body (a JSON object), posted once per pass through the
    simulated week, each pass under fresh payer identities (see :func:`pass_body`)."""

    merchant_id: str
    customer_id: str
    body: bytes


def pass_body(template: PaymentTemplate, tag: str, n_pass: int) -> bytes:
    """The template's body with the customer, card and device renamed for pass ``n_pass``.

    Each pass through the simulated week is paid by customers of its own, so a customer
    has the simulator's few payments rather than one more for every pass: reposting the
    same 500 customers at 1,000/s gives each thousands in a day, which no payer has, and
    the agent's reads of a customer's day grow with it. Merchants stay the simulator's.
    """
    body = json.loads(template.body)
    suffix = f".{tag}.{n_pass}"
    body["customer_id"] = f"{body['customer_id']}{suffix}"[-64:]
    if "device_id" in body:
        body["device_id"] = f"{body['device_id']}{suffix}"[-64:]
    if "card_fingerprint" in body:
        raw = f"{body['card_fingerprint']}{suffix}".encode()
        body["card_fingerprint"] = hashlib.sha256(raw).hexdigest()
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass
class Posts:
    """What the posts of one measured window did."""

    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    intake_ms: list[float] = field(default_factory=list)
    slip_ms: list[float] = field(default_factory=list)  # send time minus due time
    in_flight: int = 0  # window posts not answered yet
    max_in_flight: int = 0  # all posts, warm-up included

    @property
    def errors(self) -> int:
        """Posts that were not accepted (anything but 202, connection failures as 0)."""
        return sum(n for status, n in self.statuses.items() if status != 202)


Accepted = Callable[[int, float, str, PaymentTemplate], None]


def session(connections: int = CONNECTIONS) -> aiohttp.ClientSession:
    """The generator's session: keep-alive connections, no cookie jar, no body decoding."""
    connector = aiohttp.TCPConnector(limit=connections, keepalive_timeout=60)
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
        auto_decompress=False,
    )


class PaymentLoad:
    """Posts payments at a steady rate until told to stop."""

    def __init__(
        self,
        client: aiohttp.ClientSession,
        base: str,
        keys: dict[str, str],
        templates: list[PaymentTemplate],
        tag: str,
    ) -> None:
        self.client = client
        self.url = f"{base}/v1/payments"
        self.templates = templates
        self.tag = tag
        self.headers = {
            m: {"X-API-Key": k, "Content-Type": "application/json"} for m, k in keys.items()
        }
        self.posts = Posts()
        self.total_in_flight = 0
        self._pass = -1
        self._bodies: list[bytes] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(
        self,
        rate: float,
        start: float,
        window: range,
        stop: asyncio.Event,
        accepted: Accepted,
    ) -> int:
        """Post payment n at ``due_at(start, rate, n)`` until ``stop``; return how many.

        ``accepted(n, sent, payment_id, template)`` is called for each window payment the
        API accepted (202), as soon as its answer arrives.
        """
        n = 0
        while not stop.is_set():
            due = due_at(start, rate, n)
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif n % 50 == 0:
                await asyncio.sleep(0)  # behind schedule: let the answers be read
            task = asyncio.create_task(self._post(n, due, n in window, accepted))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            n += 1
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=REQUEST_TIMEOUT_S + 5)
            for task in set(self._tasks):
                task.cancel()
        return n

    def _body(self, n: int) -> bytes:
        # A pass's bodies are built once, when its first payment is due (about 10 ms for
        # the simulated week), so each post still only adds its idempotency key.
        n_pass, i = divmod(n, len(self.templates))
        if n_pass != self._pass:
            self._pass = n_pass
            self._bodies = [pass_body(t, self.tag, n_pass) for t in self.templates]
        return self._bodies[i]

    async def _post(self, n: int, due: float, measured: bool, accepted: Accepted) -> None:
        template = self.templates[n % len(self.templates)]
        body = self._body(n)
        headers = {**self.headers[template.merchant_id], "Idempotency-Key": f"{self.tag}-{n}"}
        self.total_in_flight += 1
        self.posts.max_in_flight = max(self.posts.max_in_flight, self.total_in_flight)
        if measured:
            self.posts.in_flight += 1
        sent = time.monotonic()
        status, payment_id = 0, None
        try:
            async with self.client.post(self.url, data=body, headers=headers) as resp:
                status = resp.status
                raw = await resp.read()
                if status == 202:
                    payment_id = json.loads(raw)["payment_id"]
        except (TimeoutError, aiohttp.ClientError):
            status = 0
        finally:
            self.total_in_flight -= 1
        if not measured:
            return
        done = time.monotonic()
        posts = self.posts
        posts.sent += 1
        posts.statuses[status] += 1
        posts.intake_ms.append((done - sent) * 1000)
        posts.slip_ms.append((sent - due) * 1000)
        if payment_id is not None:
            accepted(n, sent, payment_id, template)
        posts.in_flight -= 1


@dataclass
class Reads:
    """The read load's answers in the measured window, per endpoint."""

    latency_ms: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[str, Counter[int]] = field(default_factory=dict)

    def add(self, name: str, status: int, ms: float) -> None:
        """Record one answer."""
        self.latency_ms.setdefault(name, []).append(ms)
        self.statuses.setdefault(name, Counter())[status] += 1


async def read_load(
    client: aiohttp.ClientSession,
    key: str,
    urls: list[tuple[str, str]],
    per_s: float,
    measuring: Callable[[], bool],
    stop: asyncio.Event,
    out: Reads,
) -> None:
    """GET the (name, url) pairs in turn at ``per_s`` a second, open loop, until ``stop``."""
    if per_s <= 0 or not urls:
        return
    headers = {"X-API-Key": key}
    tasks: set[asyncio.Task[None]] = set()

    async def one(name: str, url: str, measured: bool) -> None:
        started = time.monotonic()
        try:
            async with client.get(url, headers=headers) as resp:
                await resp.read()
                status = resp.status
        except (TimeoutError, aiohttp.ClientError):
            status = 0
        if measured:
            out.add(name, status, (time.monotonic() - started) * 1000)

    start, n = time.monotonic(), 0
    while not stop.is_set():
        delay = due_at(start, per_s, n) - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        name, url = urls[n % len(urls)]
        task = asyncio.create_task(one(name, url, measuring()))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        n += 1
    if tasks:
        await asyncio.wait(set(tasks), timeout=REQUEST_TIMEOUT_S + 5)
        for task in set(tasks):
            task.cancel()


@dataclass
class HttpSample:
    """Sampled payments timed through the real GET endpoints: payment id -> ms from post."""

    risk_ms: dict[str, float] = field(default_factory=dict)
    payment_ms: dict[str, float] = field(default_factory=dict)
    polls: int = 0


async def follow_over_http(
    client: aiohttp.ClientSession,
    base: str,
    key: str,
    payment_id: str,
    sent: float,
    intervals_s: tuple[float, float],
    deadline: float,
    out: HttpSample,
) -> None:
    """Poll ``GET /v1/payments/{id}/risk`` and ``GET /v1/payments/{id}`` (every
    ``intervals_s[0]`` and ``[1]`` seconds) until each answers 200 or ``deadline``; record
    when each first did, in ms from ``sent``."""
    headers = {"X-API-Key": key}

    async def until_found(url: str, interval_s: float) -> float | None:
        while time.monotonic() < deadline:
            try:
                async with client.get(url, headers=headers) as resp:
                    await resp.read()
                    ok = resp.status == 200
            except (TimeoutError, aiohttp.ClientError):
                ok = False
            out.polls += 1
            if ok:
                return (time.monotonic() - sent) * 1000
            await asyncio.sleep(interval_s)
        return None

    risk, payment = await asyncio.gather(
        until_found(f"{base}/v1/payments/{payment_id}/risk", intervals_s[0]),
        until_found(f"{base}/v1/payments/{payment_id}", intervals_s[1]),
    )
    if risk is not None:
        out.risk_ms[payment_id] = risk
    if payment is not None:
        out.payment_ms[payment_id] = payment


async def healthz_ms(client: aiohttp.ClientSession, base: str, count: int) -> list[float]:
    """``count`` sequential ``GET /healthz`` on a warm connection, in ms."""
    url = f"{base}/healthz"
    async with client.get(url) as resp:  # opens the connection outside the timing
        await resp.read()
    times: list[float] = []
    for _ in range(count):
        started = time.perf_counter()
        async with client.get(url) as resp:
            await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"{url} answered {resp.status}")
        times.append((time.perf_counter() - started) * 1000)
    return times


def describe_ms(values: list[float]) -> str:
    """``p50 x / p99 y ms (n)`` for the notes."""
    if not values:
        return "no samples"
    return (
        f"p50 {percentile(values, 50):,.2f} / p99 {percentile(values, 99):,.2f} ms "
        f"({len(values):,})"
    )

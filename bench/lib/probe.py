"""A security probe's result (``bench.security``): one attack and whether it was blocked."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Probe:
    """One attack and whether the platform blocked it."""

    name: str
    attack: str
    blocked: bool
    seen: str

"""What the platform serves from Redis: risk decisions and recommendations.

Writers (the risk agent, the recommender's batch scoring) and the reader (the API) share
these keys and shapes, and nothing else: the API never imports a writer.

Key layout (``{ns}`` is the namespace, ``ps`` by default)::

    {ns}:risk:decision:{payment_id}   hash: StoredDecision fields
    {ns}:reco:{merchant_id}:customer:{customer_id}  string: Recommendations JSON
    {ns}:reco:{merchant_id}:popular                 string: the merchant's cold-start list

Recommendations are per merchant: each list is learnt from that merchant's interactions and
names only its catalogue, so serving one merchant never shows what a customer did elsewhere.
The ids are written through :func:`~paystream.contracts.keys.key_part`: customer
``b:customer:a`` at merchant ``m`` and customer ``a`` at merchant ``m:customer:b`` have two
keys, not one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from paystream.contracts.keys import key_part
from paystream.money import Money

RECO_POPULAR = "popular"


class ServedKeys:
    """Redis keys of served results under one namespace."""

    def __init__(self, namespace: str = "ps") -> None:
        # A brace in the namespace would become the hash tag of every served key.
        if "{" in namespace or "}" in namespace:
            raise ValueError(f"a Redis namespace holds no braces: {namespace!r}")
        self.namespace = namespace

    def decision(self, payment_id: str) -> str:
        """Hash holding one payment's risk decision."""
        return f"{self.namespace}:risk:decision:{key_part(payment_id)}"

    def recommendations(self, customer_id: str, merchant_id: str) -> str:
        """JSON string of one customer's top-N items at one merchant."""
        return f"{self.namespace}:reco:{key_part(merchant_id)}:customer:{key_part(customer_id)}"

    def popular(self, merchant_id: str) -> str:
        """JSON string of the merchant's items served to unknown or cold customers."""
        return f"{self.namespace}:reco:{key_part(merchant_id)}:{RECO_POPULAR}"


class StoredDecision(BaseModel):
    """A risk decision as the API reads it (all hash fields are strings in Redis)."""

    model_config = ConfigDict(frozen=True)

    payment_id: str
    customer_id: str
    merchant_id: str
    decision: str
    score: float
    reasons: list[str]
    model_version: str | None
    degraded: bool
    event_id: str
    authorized_at: datetime
    decided_at: datetime

    def to_hash(self) -> dict[str, str]:
        """Redis hash fields."""
        return {
            "payment_id": self.payment_id,
            "customer_id": self.customer_id,
            "merchant_id": self.merchant_id,
            "decision": self.decision,
            "score": repr(self.score),
            "reasons": ",".join(self.reasons),
            "model_version": self.model_version or "",
            "degraded": "1" if self.degraded else "0",
            "event_id": self.event_id,
            "authorized_at": self.authorized_at.isoformat(),
            "decided_at": self.decided_at.isoformat(),
        }

    @classmethod
    def from_hash(cls, fields: dict[str, str]) -> StoredDecision:
        """Inverse of :meth:`to_hash`."""
        return cls(
            payment_id=fields["payment_id"],
            customer_id=fields["customer_id"],
            merchant_id=fields["merchant_id"],
            decision=fields["decision"],
            score=float(fields["score"]),
            reasons=[r for r in fields.get("reasons", "").split(",") if r],
            model_version=fields.get("model_version") or None,
            degraded=fields.get("degraded") == "1",
            event_id=fields["event_id"],
            authorized_at=datetime.fromisoformat(fields["authorized_at"]),
            decided_at=datetime.fromisoformat(fields["decided_at"]),
        )


class RecommendedItem(BaseModel):
    """One recommended item and its score (higher is better), with what an app shows of it.

    ``name`` and ``unit_price`` come from gold ``product_catalogue`` when the list is
    written; both are null for a product the catalogue does not know (yet).
    """

    item_id: str
    score: float
    source: Annotated[str, Field(description="als, popularity or graph")]
    name: Annotated[
        str | None,
        Field(description="The product's name at this merchant (its commonest description)"),
    ] = None
    unit_price: Annotated[
        Money | None,
        Field(description="The merchant's latest unit price: integer minor units + currency"),
    ] = None


class Recommendations(BaseModel):
    """The top-N list stored for a customer (or the popular list)."""

    customer_id: str | None
    items: list[RecommendedItem]
    model_name: str
    model_version: str
    generated_at: datetime

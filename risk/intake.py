"""Which payment-topic records the risk agent decides: valid authorizations only."""

from __future__ import annotations

from paystream.contracts import ContractError
from paystream.contracts.events import PaymentAuthorized
from paystream.contracts.storable import parse_record


def authorizations(values: list[bytes]) -> list[PaymentAuthorized]:
    """The valid authorizations among raw payment-topic records.

    Everything else is skipped here: captures and refunds are not scored, and malformed
    records (tombstones without a value, a card number in any field) are dead-lettered by the
    ledger's workers, which read the same topic. Nothing here raises on a bad record.
    """
    found: list[PaymentAuthorized] = []
    for value in values:
        # A cheap test first: most records on the topic are not authorizations.
        if not value or b'"payment.authorized"' not in value:
            continue
        try:
            # A card number must not reach the decision store either.
            event = parse_record(value)
        except (ContractError, ValueError, TypeError, RecursionError):
            continue
        if isinstance(event, PaymentAuthorized):
            found.append(event)
    return found

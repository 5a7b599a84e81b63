"""What a store may keep of a raw record: never a card number, never an unknown field.

The stream workers store only validated fields, but the lakehouse lands records itself
(bronze reads the topics), so it needs the same rule in one function:

* a record holding a card number anywhere keeps only a masked copy (first 6, last 4 digits),
  and silver quarantines it with the reason ``card_number``, as the stream dead-letters it;
* a valid event is stored as the contract re-serializes it: fields the contract does not know
  (an extra ``"pan"``, anything a producer added) are dropped before anything is stored;
* an invalid record is kept masked, for silver's quarantine to say why it was refused.
"""

from __future__ import annotations

import json

from paystream.contracts.events import ContractError, Event, parse_event
from paystream.contracts.pan import find_pan_in_json, mask_pans_in_bytes

#: The key of the envelope that stands in for a refused record (see :func:`storable`).
REFUSED = "refused"


def storable(raw: bytes) -> bytes:
    """The bytes a store may keep for the record ``raw``.

    A record with a card number becomes ``{"refused": "card_number", "at": <field path>,
    "masked": <the record, masked>}``: no event type, so every parser refuses it, and
    :func:`refused_reason` tells why.
    """
    pan_at = find_pan_in_json(raw)
    if pan_at is not None:
        masked = mask_pans_in_bytes(raw).decode("utf-8", errors="replace")
        return json.dumps({REFUSED: "card_number", "at": pan_at, "masked": masked}).encode()
    try:
        return parse_event(raw).to_bytes()
    except Exception:
        # Refused records (bad JSON, a schema violation, bytes that are not UTF-8) stay as they
        # came, masked, so that the quarantine can show and explain them.
        return mask_pans_in_bytes(raw)


def refused_reason(raw: bytes) -> str | None:
    """The reason :func:`storable` refused a record, or None for any other record."""
    if not raw.startswith(b'{"' + REFUSED.encode()):
        return None
    try:
        reason = json.loads(raw).get(REFUSED)
    except ValueError:
        return None
    return reason if isinstance(reason, str) else None


def parse_record(raw: bytes) -> Event:
    """Parse a raw record as every reader must: no card number in any string, then the contract.

    The stream workers, the risk agent and silver all call this, so a record is refused for
    the same reason wherever it is read.

    Raises:
        ContractError: ``card_number`` (or the reason :func:`storable` refused the record
            for), or any reason of :func:`paystream.contracts.parse_event`.
    """
    refused = refused_reason(raw)
    if refused is not None:
        raise ContractError(refused, "refused before storage: looks like a card number (PAN)")
    pan_at = find_pan_in_json(raw)
    if pan_at is not None:
        raise ContractError(
            "card_number", f"{pan_at}: looks like a card number (PAN); send a fingerprint"
        )
    return parse_event(raw)

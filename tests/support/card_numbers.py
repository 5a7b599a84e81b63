"""Hostile records for the card-number tests: a test PAN in every kind of text field.

Each record is a valid event of the run with one field replaced (or added) by a Luhn-valid
test card number, plain or spaced, so that only the card-number check can refuse it.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence

from paystream.bus.port import Message
from paystream.contracts.events import CustomerRegistered, Event, OrderPlaced, PaymentAuthorized
from paystream.settings import KafkaSettings

PAN = "4111111111111111"
SPACED = "4111 1111 1111 1111"
#: The test PAN in any of the forms above, unmasked.
FOUND = re.compile(r"4111[ -]?1111[ -]?1111[ -]?1111")


def card_number_records(kafka: KafkaSettings, events: Sequence[Event]) -> list[Message]:
    """Seven raw records built from ``events``, each carrying the test PAN somewhere.

    ``events`` must hold a customer registration, an authorization and an order.
    """
    first = {type(e): e for e in reversed(events)}
    variants = [
        (first[CustomerRegistered], "customer_id", PAN),
        (first[CustomerRegistered], "country", SPACED),
        (first[PaymentAuthorized], "device_id", PAN),
        (first[PaymentAuthorized], "ip_country", SPACED),
        (first[PaymentAuthorized], "pan", PAN),  # an unknown extra field
        (first[OrderPlaced], "order_id", f"o-{PAN}"),
    ]
    raw = []
    for template, field, value in variants:
        doc = json.loads(template.to_bytes())
        doc.update({"event_id": str(uuid.uuid4()), field: value})
        raw.append(Message(kafka.topic(template.topic), b"k", json.dumps(doc).encode()))
    # A card number inside an order line's description, too.
    order = json.loads(first[OrderPlaced].to_bytes())
    order["event_id"] = str(uuid.uuid4())
    order["lines"][0]["description"] = f"gift card {PAN}"
    raw.append(Message(kafka.topic("orders"), b"k", json.dumps(order).encode()))
    return raw

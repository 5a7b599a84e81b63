import gzip
from decimal import Decimal

import pytest

from ingest.online_retail.events import ReplaySummary, replay_events
from paystream.contracts import parse_event

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
ROWS = [
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850,United Kingdom",
    "536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850,United Kingdom",
    "536366,22633,HAND WARMER UNION JACK,6,2010-12-01 08:28:00,1.85,,United Kingdom",
    "536367,POST,POSTAGE,3,2010-12-01 08:34:00,18,12583,France",
    "536368,22960,JAM MAKING SET,0,2010-12-01 08:34:00,0,12583,France",
    "536369,22961,JAM MAKING SET PRINTED,-4,2010-12-01 08:35:00,0.00,,United Kingdom",
    "A563185,B,Adjust bad debt,1,2011-08-12 14:50:00,-11062.06,,United Kingdom",
    "C536379,22556,PLASTERS IN TIN CIRCUS PARADE,-12,2010-12-01 09:41:00,1.65,17850,United Kingdom",
    '536370,"22728","ALARM CLOCK BAKELIKE PINK, NEW",24,2011-06-26 13:05:00,3.75,12583,France',
    "536371,not-a-row",
    "536365,84406B,CREAM CUPID HEARTS COAT HANGER,8,2010-12-01 08:26:00,2.75,17850,United Kingdom",
]


@pytest.fixture
def retail_file(tmp_path):
    path = tmp_path / "retail.csv.gz"
    with gzip.open(path, "wt", newline="") as handle:
        handle.write(HEADER + "\n".join(ROWS) + "\n")
    return path


def run(path, limit=None):
    summary = ReplaySummary()
    _, events, routed = replay_events(path, summary, limit)
    return summary, list(events), routed


def test_every_line_is_either_sent_or_routed_with_matching_totals(retail_file):
    summary, _, routed = run(retail_file)
    assert summary.lines == len(ROWS)
    assert summary.lines_in_orders + summary.lines_in_refunds + summary.lines_routed == len(ROWS)
    assert summary.accounted
    assert len(routed) == summary.lines_routed


def test_dirty_lines_are_routed_with_their_reason(retail_file):
    summary, _, routed = run(retail_file)
    assert summary.routed == {
        "non_product_code": 1,
        "zero_price": 2,
        "negative_price": 1,
        "unparseable": 1,
    }
    letters = [r.dead_letter() for r in routed]
    assert {letter.source for letter in letters} == {"online_retail.csv.gz"}
    assert any(letter.original.startswith(b"536367,POST") for letter in letters)


def test_amounts_become_exact_pence(retail_file):
    summary, events, _ = run(retail_file)
    orders = {e.order_id: e for e in events if e.event_type == "order.placed"}
    first = orders["ord-536365"]
    # The invoice's three lines come together although one appears later in the file.
    assert [line.sku for line in first.lines] == ["85123A", "71053", "84406B"]
    assert first.total.amount_minor == 6 * 255 + 6 * 339 + 8 * 275
    assert orders["ord-536370"].lines[0].description == "ALARM CLOCK BAKELIKE PINK, NEW"
    assert summary.amount_total == Decimal("15.30") + Decimal("20.34") + Decimal("11.10") + Decimal(
        "54"
    ) - Decimal("11062.06") - Decimal("19.80") + Decimal("90.00") + Decimal("22.00")


def test_an_invoice_becomes_registration_order_authorization_and_capture(retail_file):
    _, events, _ = run(retail_file)
    kinds = [e.event_type for e in events if getattr(e, "customer_id", None) == "cust-17850"]
    assert kinds[:4] == [
        "customer.registered",
        "order.placed",
        "payment.authorized",
        "payment.captured",
    ]
    assert "refund.issued" in kinds
    assert kinds.count("customer.registered") == 1


def test_credit_notes_become_refunds_not_negative_payments(retail_file):
    _, events, _ = run(retail_file)
    refund = next(e for e in events if e.event_type == "refund.issued")
    assert refund.amount.amount_minor == 12 * 165
    assert refund.lines[0].quantity == 12


def test_guest_checkouts_get_a_guest_customer(retail_file):
    _, events, _ = run(retail_file)
    guest = next(e for e in events if e.event_type == "customer.registered" and e.guest)
    assert guest.customer_id == "guest-536366"


def test_invoice_times_are_converted_from_london_time_to_utc(retail_file):
    _, events, _ = run(retail_file)
    summer = next(e for e in events if getattr(e, "order_id", None) == "ord-536370")
    assert summer.occurred_at.isoformat() == "2011-06-26T12:05:00+00:00"


def test_replayed_events_are_identical_and_valid_on_the_wire(retail_file):
    _, first, _ = run(retail_file)
    _, second, _ = run(retail_file)
    assert [e.event_id for e in first] == [e.event_id for e in second]
    for event in first:
        assert parse_event(event.to_bytes()) == event


def test_limit_replays_only_the_first_lines(retail_file):
    summary, _, _ = run(retail_file, limit=3)
    assert summary.lines == 3
    assert summary.accounted


def test_a_file_without_the_expected_header_is_refused(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(ValueError, match="header"):
        run(path)


HOSTILE = [
    (
        "536401,85/123A,SLASH IN THE SKU,6,2010-12-01 08:26:00,2.55,17850,United Kingdom",
        "invalid_sku",
    ),
    (
        "536402,71053,A MILLION AND ONE,1000001,2010-12-01 08:26:00,3.39,17850,United Kingdom",
        "quantity_out_of_range",
    ),
    ("536403,71054,LONG COUNTRY,6,2010-12-01 08:26:00,3.39,17851," + "X" * 65, "country_too_long"),
    (
        "536404,71055,CARD 4111 1111 1111 1111 IN TEXT,6,2010-12-01 08:26:00,3.39,17852,France",
        "card_number",
    ),
    (
        "536405,71056,HUGE PRICE,1000,2010-12-01 08:26:00,99999999999999,17853,France",
        "amount_out_of_range",
    ),
    (
        "536406,71057,CUSTOMER/WITH/SLASH,6,2010-12-01 08:26:00,3.39,17/854,France",
        "invalid_identifier",
    ),
]


def test_hostile_rows_are_routed_with_a_reason_and_the_replay_goes_on(tmp_path):
    path = tmp_path / "hostile.csv.gz"
    good = ROWS[0]
    with gzip.open(path, "wb") as handle:
        handle.write(HEADER.encode())
        for row, _ in HOSTILE:
            handle.write(row.encode() + b"\n")
        # Not UTF-8 at all: a Latin-1 e-acute in the description.
        handle.write(b"536407,71058,CAF\xe9 SET,6,2010-12-01 08:26:00,3.39,17855,France\n")
        handle.write(good.encode() + b"\n")
    summary, events, routed = run(path)
    reasons = {r.line_no: r.reason for r in routed}
    assert [reasons.get(i + 1) for i in range(len(HOSTILE))] == [reason for _, reason in HOSTILE]
    assert reasons[len(HOSTILE) + 1] == "invalid_utf8"
    assert b"\xe9" in routed[-1].raw  # the original bytes, for the dead letter
    # The good line after them still became its order, and every event is valid on the wire.
    orders = [e for e in events if e.event_type == "order.placed"]
    assert [o.order_id for o in orders] == ["ord-536365"]
    for event in events:
        parse_event(event.to_bytes())
    assert summary.lines == len(HOSTILE) + 2

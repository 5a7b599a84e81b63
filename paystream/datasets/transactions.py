"""A risk team's own labelled transactions, read through a column mapping.

A foreign file (CSV, CSV.gz or Parquet) names its columns as it likes; :class:`ColumnMapping`
says which column is the transaction id, the time, the customer, the merchant or terminal,
the amount and its currency, and optionally the card, device, country and fraud label.
:func:`read_transactions` yields one :class:`Transaction` per good row and one
:class:`BadRow` (with a machine-readable reason) per row that cannot be a payment, so a bad
row is counted and routed, never fatal.

Amounts never pass through a float: CSV cells are decimal text, Parquet decimals arrive as
``Decimal``, and a Parquet double is read back through its shortest decimal text (``repr``),
which is the number its writer meant.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import hmac
import io
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from paystream.contracts.pan import luhn_valid
from paystream.errors import ConfigurationError
from paystream.money import CurrencyCode, MoneyError, to_minor_units

_IDENTIFIER = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
_TOKEN = re.compile(r"^[0-9a-f]{32,64}$")
_DIGITS = re.compile(r"[\s-]")
#: Label cells that mean "fraud" (compared lower-cased); anything else non-empty is genuine.
DEFAULT_FRAUD_VALUES = ("1", "true", "t", "yes", "y", "fraud", "fraudulent", "chargeback")

MerchantCategory = Literal["retail", "ecommerce", "hotel", "car_rental", "food", "services"]


class ColumnMapping(BaseModel):
    """Which column of the foreign file holds each part of a payment.

    Exactly one of ``currency`` (a column) and ``currency_code`` (a constant) is set.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    transaction_id: str = Field(description="column of the unique transaction id")
    timestamp: str = Field(description="column of the transaction time")
    customer: str = Field(description="column of the customer id")
    merchant: str = Field(description="column of the merchant or terminal id")
    amount: str = Field(description="column of the amount")
    amount_unit: Literal["major", "minor"] = Field(
        default="major", description="major: decimal text such as 12.50; minor: integer 1250"
    )
    currency: str | None = Field(default=None, description="column of the ISO 4217 code")
    currency_code: CurrencyCode | None = Field(default=None, description="one code for all rows")
    card: str | None = Field(default=None, description="column of the card id, token or number")
    device: str | None = None
    country: str | None = Field(default=None, description="column of the payer's IP country")
    fraud: str | None = Field(default=None, description="column of the fraud label")
    fraud_values: tuple[str, ...] = DEFAULT_FRAUD_VALUES
    timestamp_format: str | None = Field(
        default=None,
        description="strptime format, 'epoch_s' or 'epoch_ms'; default ISO 8601",
    )
    timezone: str = Field(default="UTC", description="zone of timestamps without an offset")
    merchant_category: MerchantCategory = "retail"
    id_prefix: str = Field(
        default="",
        max_length=24,
        pattern=r"^[A-Za-z0-9_.:\-]*$",
        description="prepended to every id, to keep one source's ids apart from another's",
    )

    @field_validator("fraud_values")
    @classmethod
    def _lower(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(v.strip().lower() for v in values)

    @model_validator(mode="after")
    def _one_currency(self) -> ColumnMapping:
        if (self.currency is None) == (self.currency_code is None):
            raise ValueError("give exactly one of currency (a column) and currency_code")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {self.timezone!r}") from None
        return self

    def columns(self) -> list[str]:
        """Every column the mapping reads."""
        named = (self.transaction_id, self.timestamp, self.customer, self.merchant, self.amount)
        optional = (self.currency, self.card, self.device, self.country, self.fraud)
        return [*named, *(c for c in optional if c)]


def load_mapping(path: Path | None, overrides: Mapping[str, Any]) -> ColumnMapping:
    """The mapping from a YAML file, with command-line values (not ``None``) on top.

    Raises:
        ConfigurationError: the file is unreadable or the mapping incomplete, in one line.
    """
    values: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigurationError(f"cannot read mapping {path}: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigurationError(f"mapping {path} must be a YAML mapping of fields")
        values.update(loaded)
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return ColumnMapping.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'mapping'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigurationError(f"column mapping: {problems} (see --help)") from None


@dataclass(frozen=True)
class Transaction:
    """One good row, in paystream's terms (ids already prefixed)."""

    row: int
    transaction_id: str
    at: datetime
    customer_id: str
    merchant_id: str
    amount_minor: int
    currency: str
    card_fingerprint: str | None
    device_id: str | None
    country: str | None
    fraud: bool


@dataclass(frozen=True)
class BadRow:
    """A row that cannot be a payment, with why."""

    row: int
    reason: str
    detail: str
    raw: bytes


class RowError(ValueError):
    """A row's cell is unusable; ``reason`` is the dead letter's reason code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def card_fingerprint(value: str, key: bytes | None, scope: str = "") -> str:
    """The fingerprint stored for a card cell: a 32-64 hex token is kept as it is; anything
    else (a card id or a card number) becomes its keyed HMAC, so no card number survives
    the import and a fingerprint cannot be reversed by hashing every possible number.

    A card id is only unique within its source, so ``scope`` (the mapping's id prefix) is
    part of its fingerprint; a card number is the same card in every source, so it is not.

    Raises:
        ConfigurationError: the cell needs hashing and no key is configured.
    """
    token = value.strip().lower()
    if _TOKEN.match(token):
        return token
    if key is None:
        raise ConfigurationError(
            "the card column holds ids or card numbers, which are fingerprinted with a key: "
            "set PAYSTREAM_RISK__CARD_KEY (`paystream stack up` writes a local one)"
        )
    digits = _DIGITS.sub("", value)
    # A card number with spaces or dashes is the same card as without them.
    material = digits if digits.isdigit() and luhn_valid(digits) else scope + value.strip()
    return hmac.new(key, material.encode(), hashlib.sha256).hexdigest()[:32]


class RowReader:
    """Turns the mapping's cells of one row into a :class:`Transaction`."""

    def __init__(self, mapping: ColumnMapping, card_key: bytes | None) -> None:
        self.mapping = mapping
        self.card_key = card_key
        self.zone = ZoneInfo(mapping.timezone)

    def _cell(self, row: Mapping[str, Any], column: str | None, *, required: bool) -> Any:
        value = row.get(column) if column else None
        if isinstance(value, str):
            value = value.strip()
        if value is None or value == "":
            if required:
                raise RowError("missing_field", f"column {column!r} is empty")
            return None
        return value

    def _id(self, row: Mapping[str, Any], column: str, what: str) -> str:
        value = self._cell(row, column, required=True)
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # Parquet/pandas ids that became doubles
        ident = f"{self.mapping.id_prefix}{value}"
        if not _IDENTIFIER.match(ident):
            raise RowError("bad_identifier", f"{what} {ident[:80]!r} is not a paystream id")
        return ident

    def _time(self, value: Any) -> datetime:
        fmt = self.mapping.timestamp_format
        try:
            if isinstance(value, datetime):
                at = value
            elif fmt in ("epoch_s", "epoch_ms"):
                seconds = Decimal(str(value)) / (1000 if fmt == "epoch_ms" else 1)
                at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=float(seconds))
            elif fmt:
                at = datetime.strptime(str(value), fmt)
            else:
                at = datetime.fromisoformat(str(value))
        except (ValueError, ArithmeticError, OverflowError) as exc:
            raise RowError("bad_timestamp", f"{str(value)[:80]!r}: {exc}") from None
        if at.tzinfo is None:
            at = at.replace(tzinfo=self.zone)
        return at.astimezone(UTC)

    def _amount(self, value: Any, currency: str) -> int:
        if isinstance(value, float):
            value = repr(value)  # the shortest text that reads back as this double
        try:
            if self.mapping.amount_unit == "minor":
                text = str(value)
                if not re.fullmatch(r"[+-]?\d+", text):
                    raise MoneyError(f"{text[:40]!r} is not a whole number of minor units")
                minor = int(text)
            else:
                minor = to_minor_units(str(value), currency)
        except MoneyError as exc:
            raise RowError("bad_amount", str(exc)) from None
        if minor <= 0:
            raise RowError("bad_amount", f"amount {value} is not positive")
        return minor

    def read(self, number: int, row: Mapping[str, Any]) -> Transaction:
        """The row as a transaction.

        Raises:
            RowError: a cell is missing or unusable.
        """
        m = self.mapping
        currency = m.currency_code or str(self._cell(row, m.currency, required=True)).upper()
        try:
            CurrencyRow.model_validate({"code": currency})
        except ValidationError:
            raise RowError("bad_currency", f"{currency[:12]!r} is not an ISO 4217 code") from None
        card = self._cell(row, m.card, required=False)
        fingerprint = None
        if card is not None:
            fingerprint = card_fingerprint(str(card), self.card_key, m.id_prefix)
        device = self._cell(row, m.device, required=False)
        label = self._cell(row, m.fraud, required=False)
        return Transaction(
            row=number,
            transaction_id=self._id(row, m.transaction_id, "transaction id"),
            at=self._time(self._cell(row, m.timestamp, required=True)),
            customer_id=self._id(row, m.customer, "customer"),
            merchant_id=self._id(row, m.merchant, "merchant"),
            amount_minor=self._amount(self._cell(row, m.amount, required=True), currency),
            currency=currency,
            card_fingerprint=fingerprint,
            device_id=None if device is None else self._id(row, m.device or "", "device"),
            country=None if (c := self._cell(row, m.country, required=False)) is None else str(c),
            fraud=label is not None and str(label).strip().lower() in m.fraud_values,
        )


class CurrencyRow(BaseModel):
    """Validates one currency code with the kernel's ISO 4217 table."""

    code: CurrencyCode


def _raw(row: Mapping[str, Any]) -> bytes:
    return json.dumps(row, default=str, sort_keys=True).encode()


def _csv_rows(path: Path, columns: list[str]) -> Iterator[dict[str, Any]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as binary:
        text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
        reader = csv.DictReader(text)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise ConfigurationError(
                f"{path.name} has no column {', '.join(map(repr, missing))}; its columns: "
                f"{', '.join(reader.fieldnames or [])}"
            )
        yield from reader


def _parquet_rows(path: Path, columns: list[str]) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    present = set(parquet.schema_arrow.names)
    missing = [c for c in columns if c not in present]
    if missing:
        raise ConfigurationError(
            f"{path.name} has no column {', '.join(map(repr, missing))}; its columns: "
            f"{', '.join(sorted(present))}"
        )
    for batch in parquet.iter_batches(batch_size=10_000, columns=list(dict.fromkeys(columns))):
        yield from batch.to_pylist()


def file_rows(path: Path, mapping: ColumnMapping) -> Iterator[dict[str, Any]]:
    """The rows of a CSV, CSV.gz or Parquet file, as column → cell.

    Raises:
        ConfigurationError: the file is missing, of another kind, or lacks a mapped column.
    """
    if not path.is_file():
        raise ConfigurationError(f"no such file: {path}")
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return _parquet_rows(path, mapping.columns())
    if name.endswith((".csv", ".csv.gz", ".txt", ".txt.gz")):
        return _csv_rows(path, mapping.columns())
    raise ConfigurationError(f"{path.name}: expected .csv, .csv.gz or .parquet")


def read_transactions(
    rows: Iterator[Mapping[str, Any]], reader: RowReader
) -> Iterator[Transaction | BadRow]:
    """Each row as a transaction, or as a bad row with its reason (rows count from 1)."""
    for number, row in enumerate(rows, start=1):
        try:
            yield reader.read(number, row)
        except RowError as exc:
            yield BadRow(number, exc.reason, str(exc), _raw(row))

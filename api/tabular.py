"""Arrow tables out as JSON rows or as a CSV download (``Accept: text/csv`` or ``?format=csv``)."""

from __future__ import annotations

import io
from datetime import date, datetime
from typing import Any, Literal

import pyarrow as pa
import pyarrow.csv as pacsv
from fastapi import Request
from fastapi.responses import Response

Format = Literal["json", "csv"]
CSV_MEDIA = "text/csv"


def wants_csv(request: Request, fmt: Format | None) -> bool:
    """True if the caller asked for CSV by query parameter or Accept header."""
    if fmt is not None:
        return fmt == "csv"
    accept = request.headers.get("accept", "")
    return CSV_MEDIA in accept and "application/json" not in accept


def csv_response(table: pa.Table, filename: str) -> Response:
    """The table as a CSV attachment (dates ISO 8601, money as integer minor units)."""
    buffer = io.BytesIO()
    pacsv.write_csv(table, buffer)
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def rows(table: pa.Table) -> list[dict[str, Any]]:
    """The table as a list of JSON-ready dicts."""
    return [{k: _plain(v) for k, v in row.items()} for row in table.to_pylist()]


CSV_RESPONSE_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            CSV_MEDIA: {"schema": {"type": "string"}, "example": "merchant_id,currency,...\n"}
        },
        "description": "JSON, or CSV with `Accept: text/csv` or `?format=csv`",
    }
}

"""Interactions: loading any user-item table, checking it, and splitting it by time.

An interactions table has the columns ``user``, ``item``, ``weight`` (implicit strength,
e.g. quantity bought) and ``timestamp`` (the latest interaction), like gold
``interactions_customer_product``. It may be Parquet (a file or a folder of files), CSV
(optionally gzipped) or a Delta table (a folder with ``_delta_log``). Anything malformed
stops with :class:`InteractionsError`, a one-line message meant for a person.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from paystream.errors import PaystreamError

COLUMNS = ("user", "item", "weight", "timestamp")
#: Optional column: the merchant of each interaction. Users and items are then scoped by it.
MERCHANT = "merchant_id"
#: Joins a merchant and an id into a scoped key; identifiers never contain it.
SCOPE = "|"
GOLD_TABLE = "interactions_customer_product"


def scoped(merchant_id: str, key: str) -> str:
    """A user or item key of one merchant: the same customer at two merchants is two users."""
    return f"{merchant_id}{SCOPE}{key}"


def unscoped(key: str) -> tuple[str | None, str]:
    """``(merchant_id, id)`` of a scoped key; ``(None, key)`` for a table without merchants."""
    merchant, sep, rest = key.partition(SCOPE)
    return (merchant, rest) if sep else (None, key)


class InteractionsError(PaystreamError):
    """An interactions table cannot be used: missing, unreadable or malformed."""


@dataclass(frozen=True)
class Interactions:
    """A checked interactions table and where it came from.

    ``frame`` has one row per (user, item): ``user`` and ``item`` strings, ``weight``
    float64 > 0 and ``timestamp`` as UTC datetimes. ``version`` identifies the data (the
    Delta version, or a content hash of the files) so that metrics can be compared only
    between runs on the same data.
    """

    frame: pd.DataFrame
    source: str
    version: str

    @property
    def users(self) -> int:
        """Distinct users."""
        return int(self.frame["user"].nunique())

    @property
    def items(self) -> int:
        """Distinct items."""
        return int(self.frame["item"].nunique())


def gold_path(lakehouse_root: Path) -> Path:
    """Where the lakehouse writes gold ``interactions_customer_product``."""
    return lakehouse_root / "gold" / GOLD_TABLE


def load_interactions(path: Path) -> Interactions:
    """Read and check an interactions table, detecting its format from the path.

    Raises:
        InteractionsError: the path is missing, of an unknown format, or the table is
            malformed (missing column, non-numeric weight, unparseable timestamp, empty).
    """
    if not path.exists():
        raise InteractionsError(f"interactions table {path} does not exist")
    try:
        raw, version = _read(path)
    except InteractionsError:
        raise
    except Exception as exc:  # any reader failure means the same thing to the user
        raise InteractionsError(f"cannot read interactions table {path}: {exc}") from exc
    return Interactions(clean(raw, str(path)), str(path), version)


def _read(path: Path) -> tuple[pd.DataFrame, str]:
    if path.is_dir() and (path / "_delta_log").is_dir():
        from deltalake import DeltaTable

        table = DeltaTable(str(path))
        present = {field.name for field in table.schema().fields}
        _require_columns(present, path)
        frame = table.to_pyarrow_table(columns=_wanted(present)).to_pandas()
        return frame, f"delta:{path.name}@v{table.version()}"
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")) or (path.is_dir() and any(path.glob("*.parquet"))):
        import pyarrow.parquet as pq

        files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
        present = set(pq.read_schema(files[0]).names)
        _require_columns(present, path)
        frame = pq.read_table(path, columns=_wanted(present)).to_pandas()
        return frame, _content_version(files)
    if name.endswith((".csv", ".csv.gz")):
        # Everything as text first: type problems are reported by clean(), per column.
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        _require_columns(set(frame.columns), path)
        return frame[_wanted(set(frame.columns))], _content_version([path])
    raise InteractionsError(
        f"{path}: unknown interactions format; use .parquet, .csv(.gz) or a Delta table folder"
    )


def _wanted(present: set[str]) -> list[str]:
    return [*COLUMNS, MERCHANT] if MERCHANT in present else list(COLUMNS)


def _require_columns(present: set[str], path: Path) -> None:
    missing = [c for c in COLUMNS if c not in present]
    if missing:
        raise InteractionsError(
            f"interactions table {path} lacks column(s) {', '.join(missing)}; "
            f"expected {', '.join(COLUMNS)}"
        )


def _content_version(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for file in files:
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return f"sha256:{digest.hexdigest()[:16]}"


def clean(raw: pd.DataFrame, source: str) -> pd.DataFrame:
    """Check types and values and fold duplicate (user, item) rows into one.

    Duplicates sum their weights and keep the latest timestamp, so a table of raw events
    works as well as an aggregated one. Rows of weight 0 carry no signal and are dropped.
    With a ``merchant_id`` column, users and items become merchant-scoped keys
    (:func:`scoped`): one fit then learns each merchant's customers and catalogue from that
    merchant's interactions only, and no list mixes two merchants.

    Raises:
        InteractionsError: the table is empty or a column holds unusable values.
    """
    if raw.empty:
        raise InteractionsError(f"interactions table {source} is empty")
    frame = pd.DataFrame(
        {
            "user": raw["user"].astype("string").str.strip(),
            "item": raw["item"].astype("string").str.strip(),
        }
    )
    columns = ("user", "item", MERCHANT) if MERCHANT in raw.columns else ("user", "item")
    if MERCHANT in raw.columns:
        frame[MERCHANT] = raw[MERCHANT].astype("string").str.strip()
    for column in columns:
        blank = frame[column].isna() | (frame[column] == "")
        if blank.any():
            row = int(np.flatnonzero(blank.to_numpy())[0])
            raise InteractionsError(f"{source}: empty {column} in row {row + 1}")
        if (frame[column].str.contains(SCOPE, regex=False)).any():
            raise InteractionsError(f"{source}: {column} values may not contain {SCOPE!r}")
    if MERCHANT in raw.columns:
        frame["user"] = frame[MERCHANT] + SCOPE + frame["user"]
        frame["item"] = frame[MERCHANT] + SCOPE + frame["item"]
        frame = frame.drop(columns=[MERCHANT])
    weight = pd.to_numeric(raw["weight"], errors="coerce").astype("float64")
    bad = weight.isna() | ~np.isfinite(weight.to_numpy(dtype="float64", na_value=np.nan))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InteractionsError(
            f"{source}: weight must be numeric; row {row + 1} has {raw['weight'].iloc[row]!r}"
        )
    if (weight < 0).any():
        row = int(np.flatnonzero((weight < 0).to_numpy())[0])
        raise InteractionsError(f"{source}: weight must be >= 0; row {row + 1} has {weight[row]}")
    frame["weight"] = weight.to_numpy()
    frame["timestamp"] = _timestamps(raw["timestamp"], source)
    frame = frame[frame["weight"] > 0]
    if frame.empty:
        raise InteractionsError(f"interactions table {source} has no row with weight > 0")
    frame = (
        frame.groupby(["user", "item"], as_index=False, sort=True)
        .agg(weight=("weight", "sum"), timestamp=("timestamp", "max"))
        .astype({"user": str, "item": str})
    )
    return frame.reset_index(drop=True)


def _timestamps(column: pd.Series, source: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(column):
        parsed = pd.to_datetime(column, utc=True)
    else:
        parsed = pd.to_datetime(column, utc=True, errors="coerce", format="mixed")
    bad = parsed.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InteractionsError(
            f"{source}: timestamp must be a date-time; row {row + 1} has {column.iloc[row]!r}"
        )
    return parsed.astype("datetime64[us, UTC]")


@dataclass(frozen=True)
class Split:
    """A temporal split: train on what happened before ``cutoff``, test on the rest.

    Pairs are split by their latest interaction, the only time the table keeps. Test users
    are those with history in train (a model cannot rank for a user it never saw; cold users
    get the popular list in serving).
    """

    train: pd.DataFrame
    test: pd.DataFrame
    cutoff: pd.Timestamp
    test_weeks: int

    def truth(self) -> dict[str, set[str]]:
        """Each test user's relevant items."""
        return {str(u): set(g["item"]) for u, g in self.test.groupby("user", sort=True)}


def temporal_split(frame: pd.DataFrame, test_weeks: int = 4) -> Split:
    """Hold out the last ``test_weeks`` weeks (relative to the latest timestamp).

    Raises:
        InteractionsError: the split leaves no training data or no evaluable test user.
    """
    if test_weeks < 1:
        raise InteractionsError("test_weeks must be at least 1")
    cutoff = frame["timestamp"].max() - pd.Timedelta(weeks=test_weeks)
    train = frame[frame["timestamp"] <= cutoff].reset_index(drop=True)
    test = frame[(frame["timestamp"] > cutoff) & frame["user"].isin(set(train["user"]))]
    if train.empty or test.empty:
        span = frame["timestamp"].max() - frame["timestamp"].min()
        raise InteractionsError(
            f"a {test_weeks}-week test window leaves {len(train)} training and {len(test)} "
            f"test rows (the data spans {span.days} days); choose another --test-weeks"
        )
    return Split(train, test.reset_index(drop=True), cutoff, test_weeks)


class ScopeMask:
    """Item indices outside a user's merchant, to exclude from that user's ranking.

    Scoped users and items only ever meet within a merchant in training, but a ranking over
    the whole catalogue would still offer another merchant's products. Unscoped tables (no
    merchant column) exclude nothing.
    """

    def __init__(self, items: np.ndarray) -> None:
        self.scopes = np.array([unscoped(str(i))[0] or "" for i in items], dtype=object)
        self._cache: dict[str, np.ndarray] = {}

    def outside(self, user: str) -> np.ndarray:
        """Indices of items that are not of ``user``'s merchant."""
        scope = unscoped(user)[0] or ""
        found = self._cache.get(scope)
        if found is None:
            found = np.flatnonzero(self.scopes != scope).astype(np.int64)
            self._cache[scope] = found
        return found

    def exclude(self, user: str, seen: np.ndarray | None) -> np.ndarray | None:
        """``seen`` plus the items outside the user's merchant."""
        outside = self.outside(user)
        if not outside.size:
            return seen
        return outside if seen is None else np.concatenate([seen, outside])


@dataclass(frozen=True)
class Matrix:
    """Users × items weights as a sparse matrix, with the id ↔ index maps.

    Users and items are indexed in sorted order, so the same data always gives the same
    matrix and ties between items break the same way (by item id).
    """

    users: np.ndarray
    items: np.ndarray
    weights: sparse.csr_matrix
    user_index: dict[str, int]
    item_index: dict[str, int]

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Matrix:
        """Index a cleaned interactions frame."""
        users = np.array(sorted(frame["user"].unique()), dtype=object)
        items = np.array(sorted(frame["item"].unique()), dtype=object)
        user_index = {str(u): i for i, u in enumerate(users)}
        item_index = {str(t): i for i, t in enumerate(items)}
        rows = frame["user"].map(user_index).to_numpy()
        cols = frame["item"].map(item_index).to_numpy()
        weights = sparse.csr_matrix(
            (frame["weight"].to_numpy(dtype="float64"), (rows, cols)),
            shape=(len(users), len(items)),
        )
        weights.sum_duplicates()
        return cls(users, items, weights, user_index, item_index)

    def seen(self, user: str) -> np.ndarray:
        """Item indices the user interacted with (empty for an unknown user)."""
        index = self.user_index.get(user)
        if index is None:
            return np.empty(0, dtype=np.int64)
        start, end = self.weights.indptr[index], self.weights.indptr[index + 1]
        return np.asarray(self.weights.indices[start:end], dtype=np.int64)

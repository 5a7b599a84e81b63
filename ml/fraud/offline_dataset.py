"""Fraud training and backtest data from a history's offline features (the lakehouse's
``history/<namespace>/fraud_features`` table, read with delta-rs: no JVM here).

Unlike :func:`ml.fraud.dataset.load_dataset`, which reads what the live agent logged, these
vectors were computed point in time by the lakehouse for every payment of a history, with
the agent's own transforms (``paystream features build``); the labels are the history's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ml.fraud.dataset import DatasetError, FraudDataset, data_version
from paystream.contracts.fraud_features import FEATURES

_COLUMNS = ["payment_id", "customer_id", "card", "authorized_at", "rules_score", "label"]


def load_offline_dataset(features_path: str) -> FraudDataset:
    """Every payment of the offline table, in authorization order, with its label.

    Raises:
        DatasetError: the table does not exist, or no payment in it is labelled fraud.
    """
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        table = DeltaTable(features_path)
    except TableNotFoundError:
        raise DatasetError(
            f"no offline features at {features_path}: build them with "
            "`paystream features build --history FILE`"
        ) from None
    frame = table.to_pandas(columns=[*_COLUMNS, *FEATURES])
    frame = frame.sort_values(["authorized_at", "payment_id"], kind="stable").reset_index(drop=True)
    if not frame["label"].any():
        raise DatasetError(f"no payment of {Path(features_path).parent.name} is labelled fraud")
    frame["authorized_at"] = pd.to_datetime(frame["authorized_at"], utc=True)
    frame["card_fingerprint"] = frame["card"].where(~frame["card"].str.startswith("customer:"))
    frame["label"] = frame["label"].astype("int64")
    frame["rules_score"] = frame["rules_score"].astype("float64")
    # No live score: these payments were never decided by a running model.
    frame["score"] = np.nan
    matrix = frame[list(FEATURES)].to_numpy(dtype=np.float64, na_value=np.nan)
    latest = frame["authorized_at"].max().to_pydatetime()
    version = data_version(
        "offline", list(frame["payment_id"]), [int(y) for y in frame["label"]], latest
    )
    frame = frame.drop(columns=list(FEATURES))
    return FraudDataset(frame, matrix, version, "history")

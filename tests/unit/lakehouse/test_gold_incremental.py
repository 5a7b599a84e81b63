"""Incremental gold's pure parts: the delete condition of recomputed days and its summary."""

from __future__ import annotations

from datetime import date

from lakehouse.gold.incremental import Slices, _days_condition


def test_recomputed_days_become_a_condition_on_the_target_with_date_literals():
    condition = _days_condition([date(2011, 1, 3), date(2011, 12, 9)])
    assert condition == "t.day IN (DATE'2011-01-03', DATE'2011-12-09')"


def test_the_summary_counts_the_slices_that_were_merged():
    slices = Slices(
        payments=["p1", "p2"],
        merchants=["m"],
        months=[date(2011, 1, 1)],
        paying_customers=["c1"],
        ordering_customers=["c1", "c2"],
        items=["85123A"],
        kpi_days=[date(2011, 1, 3)],
        reason_days=[],
    )
    assert slices.summary() == "2 payments, 2 ordering customers, 1 products, 1 days"

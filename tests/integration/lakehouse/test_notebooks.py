"""The analyst notebooks run headless against a freshly built lakehouse."""

from __future__ import annotations

import pytest

from paystream.settings import REPO_ROOT

pytestmark = pytest.mark.integration

NOTEBOOKS = ("revenue_overview", "fraud_overview", "recommender_evaluation")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_executes_against_the_built_lakehouse_and_draws_its_plots(name, lake, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    # The kernel inherits the environment: its settings point at the test's lakehouse.
    monkeypatch.setenv("PAYSTREAM_LAKEHOUSE__ROOT", lake.root)
    monkeypatch.setenv("PAYSTREAM_MLFLOW__TRACKING_URI", lake.settings.mlflow.tracking_uri)
    book = nbformat.read(REPO_ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    NotebookClient(book, timeout=180, kernel_name="python3").execute()
    outputs = [o for cell in book.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any(lake.root in "".join(o.get("text", "")) for o in outputs)
    assert any("image/png" in o.get("data", {}) for o in outputs)

"""A model version loads only when loading it cannot run code."""

from __future__ import annotations

import pytest

from paystream.errors import ConfigurationError
from paystream.stores.fraud_model import check_safe_format

URI = "models:/paystream-fraud/3"


@pytest.mark.parametrize("form", ["cloudpickle", "pickle", None])
def test_pickled_models_are_refused(form):
    with pytest.raises(ConfigurationError, match="can run code"):
        check_safe_format({"serialization_format": form}, URI)


def test_a_skops_model_that_trusts_foreign_types_is_refused():
    flavor = {
        "serialization_format": "skops",
        "skops_trusted_types": ["sklearn.tree._tree.Tree", "builtins.eval", "os.system"],
    }
    with pytest.raises(ConfigurationError, match="builtins.eval, os.system"):
        check_safe_format(flavor, URI)


def test_a_skops_model_trusting_only_scikit_learn_types_loads():
    flavor = {
        "serialization_format": "skops",
        "skops_trusted_types": [
            "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
            "numpy.dtype",
        ],
    }
    check_safe_format(flavor, URI)
    check_safe_format({"serialization_format": "skops"}, URI)

"""The fraud model: one feature definition shared by stream scoring and training."""

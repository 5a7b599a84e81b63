"""The commands ml owns: ``train`` (fraud model, recommender), ``backtest`` and ``recommend``."""

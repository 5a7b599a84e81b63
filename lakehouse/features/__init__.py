"""Offline fraud features: a labelled history landed in the lakehouse and its point-in-time
features, computed with Spark and the risk agent's own transforms."""

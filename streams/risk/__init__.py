"""The risk agent: every authorization scored from Redis and graph features, rules and a model."""

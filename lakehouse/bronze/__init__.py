"""Bronze: the raw Kafka log, landed once per record in Delta."""

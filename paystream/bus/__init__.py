"""Event bus: the publisher port and its Kafka / Event Hubs adapter."""

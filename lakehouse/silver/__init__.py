"""Silver: typed, deduplicated events, the ledger pulled from the read replica, the graph."""

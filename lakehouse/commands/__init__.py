"""The commands the lakehouse owns: ``lakehouse`` (build and care of the Delta tables, the SQL
endpoint) and ``sql`` (gold and silver through delta-rs, no JVM)."""

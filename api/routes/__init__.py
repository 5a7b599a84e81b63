"""One module per resource: payments, customers, merchants, dashboard, operations."""

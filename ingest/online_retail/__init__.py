"""The UCI Online Retail replay: the file's invoices as orders, payments and refunds."""

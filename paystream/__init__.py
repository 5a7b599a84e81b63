"""paystream shared kernel: settings, event contracts, money, data sets and store adapters."""

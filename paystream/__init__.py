"""paystream shared kernel: settings, event contracts, money, store adapters and the CLI."""

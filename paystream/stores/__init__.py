"""Store adapters: one module per backend behind small typed interfaces."""

"""The synthetic simulator: payments with labelled fraud, its catalog and the foreign CSV."""

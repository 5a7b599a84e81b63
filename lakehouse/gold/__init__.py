"""Gold: reports and ML inputs built from silver, with a fixed contract (``contract.py``)."""

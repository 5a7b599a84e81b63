"""Public data sets paystream reads: the facts about each file that more than one role needs."""

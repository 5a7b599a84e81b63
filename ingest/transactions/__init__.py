"""Importing a risk team's labelled transactions (CSV, CSV.gz, Parquet) through a mapping."""

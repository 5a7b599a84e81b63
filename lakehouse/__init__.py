"""Spark + Delta lakehouse: session factory, bronze/silver/gold jobs, analyst SQL."""

"""Producers: turn data sets and simulations into paystream events."""

"""Readers for every study input: OSM extracts, DH networks, candidate sites."""

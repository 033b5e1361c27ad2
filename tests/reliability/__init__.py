"""Reliability and security tests: faults, load and bad input (``pytest -m reliability``)."""

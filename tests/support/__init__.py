"""Helpers the tests share; fixtures stay in tests/conftest.py."""

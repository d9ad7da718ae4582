"""Helpers shared by the test folders, imported as `support.<module>` (tests/ is on sys.path: pytest's
default prepend import mode puts tests/conftest.py's folder there). No tests here."""

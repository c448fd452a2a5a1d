# A package, so that its conftest and test modules do not shadow tests/conftest.py and
# tests/test_*.py of the same names (pytest's default "prepend" import mode).

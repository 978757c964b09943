"""zoo.data."""

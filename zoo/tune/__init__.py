"""zoo.tune."""

"""zoo.model."""

"""Built-in zoo plugins; each registers through the `zoo.plugins` entry-point group."""

"""datacloner: fresh, masked copies of production for every environment."""

__version__ = "0.1.0"

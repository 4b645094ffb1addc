"""sandloop.testing."""

__all__: tuple[str, ...] = ()

"""sandloop.cli."""

__all__: tuple[str, ...] = ()

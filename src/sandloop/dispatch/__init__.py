"""sandloop.dispatch."""

__all__: tuple[str, ...] = ()

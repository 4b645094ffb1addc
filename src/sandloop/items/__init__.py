"""sandloop.items."""

__all__: tuple[str, ...] = ()

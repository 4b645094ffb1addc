"""sandloop.loop."""

__all__: tuple[str, ...] = ()

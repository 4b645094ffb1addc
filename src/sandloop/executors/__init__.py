"""sandloop.executors."""

__all__: tuple[str, ...] = ()

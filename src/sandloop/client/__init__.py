"""sandloop.client."""

__all__: tuple[str, ...] = ()

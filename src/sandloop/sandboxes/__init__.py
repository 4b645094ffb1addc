"""sandloop.sandboxes."""

__all__: tuple[str, ...] = ()

"""sandloop.patching."""

__all__: tuple[str, ...] = ()

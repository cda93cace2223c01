"""The HTTP edge: the ASGI app and the one generic request handler."""

"""Routers of the /v1 API. Each is thin: parse, call the domain, shape the answer."""

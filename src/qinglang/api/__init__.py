"""The HTTP API: FastAPI routers under /v1. Thin: parse, authorize (one dependency), call the domain, render."""

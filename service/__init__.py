"""The FastAPI application (/v1 API, health), its CLI, and how requests reach the domain."""

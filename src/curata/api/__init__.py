"""The REST API (FastAPI): thin routes over the Workspace services; OpenAPI at /docs."""

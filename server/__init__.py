"""ccmap web server and CLI (FastAPI); thin layer over geo/."""

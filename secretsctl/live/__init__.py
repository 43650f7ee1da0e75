"""The live account, read through Cloudflare's official Python library: init, status, verify."""

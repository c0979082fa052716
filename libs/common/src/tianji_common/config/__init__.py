"""LiteLLM-format proxy configuration: typed model, loader and checks."""

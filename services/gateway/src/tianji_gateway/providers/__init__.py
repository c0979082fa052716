"""TianjiLLM gateway: providers."""

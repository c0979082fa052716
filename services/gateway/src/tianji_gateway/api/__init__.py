"""TianjiLLM gateway: api."""

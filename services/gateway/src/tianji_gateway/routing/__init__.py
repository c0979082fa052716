"""TianjiLLM gateway: routing."""

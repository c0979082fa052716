"""TianjiLLM gateway: streaming."""

"""TianjiLLM."""

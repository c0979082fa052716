"""Import tenants from a LiteLLM proxy database (`tianji import litellm`)."""

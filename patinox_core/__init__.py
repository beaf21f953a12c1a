"""patinox core: discovery, model catalogue, routing and wire backends for local LLM servers."""

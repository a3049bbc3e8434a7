"""Config files: keys and their schema, the search space, loading and overrides."""

"""Session and refresh tokens, and the cache that ends them early."""

"""Matches: relayed and authoritative, and listing them."""

"""Parties: their state and rules, and the socket messages that drive them."""

"""Chat channels: rooms, groups and direct messages, live and in history."""

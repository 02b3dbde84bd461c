"""What travels on the wire: the schema, the codec, error codes, close reasons and ids."""

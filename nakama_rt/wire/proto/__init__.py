"""Generated protobuf modules for Nakama's wire schema (see README.rst here).

``realtime_pb2`` holds the socket Envelope and its messages (``nakama.realtime``),
``api_pb2`` the API messages (``nakama.api``). Do not edit the ``*_pb2`` files.
"""

"""The socket: the owner of a data directory serves ``EngineAPI`` on it; everyone else attaches as a client."""

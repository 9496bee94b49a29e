"""The application: accepts envelopes, orders entries, stores them (eventsourcing + SQLAlchemy),
keeps the Merkle tree and checkpoints, writes exports, serves HTTP."""

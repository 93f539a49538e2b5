"""The synchronous operations core: every database operation, written once over PyMongo."""

"""The async front: worker threads, deadlines, cursors, sessions and transactions."""

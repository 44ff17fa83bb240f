"""The store: schema and migrations, the single writer with group commit, queries."""

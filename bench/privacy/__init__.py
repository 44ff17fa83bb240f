"""The privacy benchmark: suppression and deletion on the profiles benchmark's store."""

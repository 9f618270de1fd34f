"""Models of our own, trained in this project."""

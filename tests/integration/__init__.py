"""The docs' examples, the example programs and the stress run."""

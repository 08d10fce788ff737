"""Task functions and types that workers import by name (``tests.tasks.basic``...)."""

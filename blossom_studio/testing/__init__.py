"""Local stand-ins for real services, used by tests, benchmarks and offline demos."""

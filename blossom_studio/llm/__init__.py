"""Models as data: the roster, the async client with limits and retries, and the call cache."""

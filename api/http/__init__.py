"""HTTP plumbing of the API: middleware, problems, limits, metrics, auth, idempotency, stores."""

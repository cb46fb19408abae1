"""The seller's data and the marketplaces: models, database, connectors, sandboxes, jobs."""

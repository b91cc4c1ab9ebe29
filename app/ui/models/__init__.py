"""Console models."""

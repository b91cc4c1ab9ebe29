"""Console panels."""

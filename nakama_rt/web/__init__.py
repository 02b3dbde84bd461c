"""The HTTP side: the root resource, the site's limits and the metrics listener."""

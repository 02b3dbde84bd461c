"""What every feature shares: the pipeline, presence tracker, router, registry, notifier."""

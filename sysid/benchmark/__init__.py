"""The reproducible problem suite: tasks, executors (local processes, Dask), baselines, reports."""

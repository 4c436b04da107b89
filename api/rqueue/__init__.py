"""Solving on workers elsewhere: RQ on Redis, with the job records still in the SQL store.

Set ``UNISHARE_REDIS_URL`` and the server enqueues instead of solving; ``unishare worker``
processes (any number, on any host) run the solves, each in a work horse RQ forks per job.

- ``names``: queues, RQ job ids and the Redis keys both sides agree on;
- ``tasks``: what a work horse runs (a stored job, or an unstored synchronous solve);
- ``janitor``: keeps Redis in step with the store (re-enqueues lost jobs, re-runs the jobs of
  dead workers a bounded number of times, hard-stops cancelled solves after the grace);
- ``executor``: :class:`RQExecutor`, the :class:`~api.executor.Executor` the routes use;
- ``worker``: ``unishare worker``.

Nothing here is imported unless ``UNISHARE_REDIS_URL`` is set or a worker starts.
"""

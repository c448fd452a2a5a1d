"""Background training for the server: a queue of jobs, each trained in a worker process."""

"""Operations (spec sections 9, 15, 27): the spec's metrics from the run registry, the
health check, the HTTP server that exposes them, structured logs, and the retention
of the operations topic."""

"""Running the backend: the MODE table, the environment layers, the runner, the entrypoint."""

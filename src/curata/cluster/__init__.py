"""Running the workspace's heavy jobs on a Ray cluster where they need the whole workspace in
each worker (red-team campaigns); above the workspace, used by the CLI."""

"""Running a release's own code: Node, the harness, the restart scenarios."""

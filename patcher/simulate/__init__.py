"""Running a release's own code: Node harness files (.mjs) and the Python side that drives them."""

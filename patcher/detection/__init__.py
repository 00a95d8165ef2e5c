"""Finding installs and judging their code: discovery, the byte prefilter, roles, families."""

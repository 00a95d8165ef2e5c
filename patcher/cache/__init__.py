"""The tool's cache: releases fetched with the npm CLI, their files stored once, scratch space."""

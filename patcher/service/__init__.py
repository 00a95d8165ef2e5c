"""How an install's gateway runs (a service manager's unit, or a process of its own) and how
to restart it safely so it loads a changed install."""

"""Every release at once: selection, parallel runs, reports."""

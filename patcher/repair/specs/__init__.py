"""Declarative patch specs: one folder per fix, a spec.json and the JavaScript it inserts."""

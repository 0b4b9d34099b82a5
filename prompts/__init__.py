"""Prompt templates and competency frameworks, installed as package data and read with
``importlib.resources`` (never through paths relative to the source tree)."""

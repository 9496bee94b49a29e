"""Thin click commands: parse, call, print, map errors to exit codes."""

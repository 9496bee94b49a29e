"""The language of the field: statements, policy documents and the compliance rules.

Pure: no I/O, no clock, no database. Anything that needs "now" takes it as an argument.
"""

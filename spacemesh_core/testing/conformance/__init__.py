"""Conformance suites: base classes with test methods that any backend of a category can run.

A backend author subclasses the suite in a pytest module and provides the backend fixture the suite
names; every implementation of a category then passes the same checks against the shared vectors and
the pure-Python references.
"""

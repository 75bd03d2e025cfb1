"""Shared core used by the API, the worker, the poller and the UI; imports no edge framework."""

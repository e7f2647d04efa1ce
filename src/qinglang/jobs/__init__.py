"""Background work behind one interface: a durable job table run by an in-process worker by default.

Jobs are plain functions over plain data (`handlers.py`), so a request, a background job and a bulk scan
share the same code. Scale-out engines (Dramatiq on Redis) wrap the same handlers.
"""

"""Persistence: the schema, the engine factory, Alembic migrations and the SQL of each stage.

:mod:`~monitor.storage.tables` (the schema), :mod:`~monitor.storage.db` (engines, sessions,
migrations), :mod:`~monitor.storage.detection` (dedup and story placement; with
:mod:`~monitor.storage.placement_pg` and :mod:`~monitor.storage.story_write`),
:mod:`~monitor.storage.topic_cursors` (what each topic has read), :mod:`~monitor.storage.feedback`,
:mod:`~monitor.storage.retention`, :mod:`~monitor.storage.cycle_lock`. Functions run inside the
caller's transaction unless they say otherwise.
"""

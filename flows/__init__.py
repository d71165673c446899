"""Prefect orchestration of the monitor: the outer ring that runs the core's cycle as flows.

:mod:`flows.cycle` runs :func:`monitor.pipeline.cycle.compose` with its stages as Prefect tasks;
:mod:`flows.serve` serves it on a schedule (``monitor serve``), :mod:`flows.maintenance` runs
archive retention, :mod:`flows.demo` the offline demo; :mod:`flows.events` and
:mod:`flows.secrets` are source health as Prefect events and Prefect Secret blocks;
:mod:`flows.local` tells whether ``monitor run`` needs Prefect at all.
"""

"""Alerts after they are raised: the delivery outbox, rendering and the channels.

Alerts are raised by :mod:`monitor.pipeline.alerting`, which queues their deliveries with
:func:`monitor.alerts.outbox.enqueue` in the same transaction; source health notices are queued
by :mod:`~monitor.alerts.notices`. :func:`monitor.alerts.outbox.deliver_due` sends what is due,
rendered by :mod:`~monitor.alerts.render` (and :mod:`~monitor.alerts.digest` for digests), through
:mod:`~monitor.alerts.channels` (e-mail, webhook, apprise).
"""

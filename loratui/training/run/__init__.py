"""Running trainings: launch, the detached supervisor, the queue, reconciling dead supervisors, log parsing.

Dependencies point one way: ``launch`` -> ``queue`` -> ``spawn``/``reconcile`` -> ``procgroup``; the
``supervisor`` process uses ``queue`` (to start the next training when it finishes), ``logparse`` and
``jobfiles``. All job rows are written through ``loratui.jobs.repo``.
"""

"""Story placement: duplicates, story clustering and new-development detection.

:mod:`~monitor.stories.ingest` stores one article (already stored by its keys, exact or near
duplicate) and hands an original to :mod:`~monitor.stories.placement`: load its context, decide
(pure: :mod:`~monitor.stories.cluster`, :mod:`~monitor.stories.novelty`,
:mod:`~monitor.stories.salience`, :mod:`~monitor.stories.signature`,
:mod:`~monitor.stories.kind`), then write the plan in one repository call
(:func:`monitor.storage.detection.write_placement`). :mod:`~monitor.stories.reading` is what they
read from an article, computed once, in the extraction workers.
"""

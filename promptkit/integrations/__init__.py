"""Bridges to engines people already run, each behind an extra.

- :mod:`promptkit.integrations.ray` (``pip install 'promptkit[ray]'``): a task over a
  Ray Dataset (:func:`~promptkit.integrations.ray.map_task`), hooks for
  ``ray.data.llm.build_processor`` (:func:`~promptkit.integrations.ray.processor_hooks`),
  and the file job of ``promptkit run --engine ray``.

Nothing here is imported by ``import promptkit``.
"""

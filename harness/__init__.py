"""Shared harnesses: isolated stream worlds, sample gold and the API served in a thread.

They serve more than the tests: the fault drills (``chaos``), the demo, ``bench/`` and the
documentation scripts (``scripts/``) use them too. Test-only helpers live in
``tests/support/``. Product packages never import this package.
"""

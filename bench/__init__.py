"""SoberPeers' benchmark suite (issue 9): ``python -m bench [--quick] [--json FILE] [--case NAME…]``.

Run from the repository's root. See ``bench/README.md`` for the cases, their targets and the last
full run.
"""

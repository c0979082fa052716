"""Upstream HTTP I/O: the one seam every provider call goes through."""

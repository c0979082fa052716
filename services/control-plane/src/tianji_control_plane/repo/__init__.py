"""Database access for the control plane: async functions returning msgspec Structs.

piccolo objects and rows never leave this package (STYLE section 8).
"""

from __future__ import annotations

from tianji_control_plane.repo.db import Db
from tianji_control_plane.repo.records import AuditEntry, KeyRecord, TeamRecord

__all__ = ["AuditEntry", "Db", "KeyRecord", "TeamRecord"]

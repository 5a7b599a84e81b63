"""The local process stack: every service paystream needs, without Docker."""

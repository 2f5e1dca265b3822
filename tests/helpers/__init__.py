"""Shared helpers of the reliability suite (data generators, store inspection, worker scripts)."""

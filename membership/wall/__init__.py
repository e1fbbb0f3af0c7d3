"""The public supporter wall at /supporters: readers who gave and didn't ask to stay anonymous, with their
messages once an editor approved them (or at once, with SUPPORTER_WALL_REVIEW off)."""

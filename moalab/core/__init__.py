"""The lowest layer: events, the experiment clock, errors, and shared bases."""

"""The sources: one folder each, and what they share (HTTP client base, page walker, streams)."""

"""Datasets on disk: scanning, captions, kohya subsets, buckets and stats."""

"""Task definitions bundled with promptkit, found by name (``promptkit tasks`` lists them)."""

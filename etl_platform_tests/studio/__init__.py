"""The view studio: draft, publish and catalog units, and the page in a real browser."""

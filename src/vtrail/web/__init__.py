"""The page served at `/` by `vtrail serve`: static files only, no build step (docs/web.md)."""

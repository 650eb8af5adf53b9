"""Recording: observations from collectors and files, batched and turned into history.

`runner` runs the collectors of `vtrail record` and `writer` hands their
observations to the `recorder` in batches; `sources` turns `--source` URIs
into collectors; `ingest` records a whole file or replays the journal. The
`recorder` is the store's only writer; `merge` decides what several sources
saying things about one entity amount to.
"""

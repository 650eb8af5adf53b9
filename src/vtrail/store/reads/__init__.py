"""Read-side SQL, one module per question area.

- `state`: one entity at an instant or over a window, and the whole fabric
  at an instant (where, show, history, lifetime, diff, ghosts, snapshot);
- `graph`: the live set as plain rows, and the neighbourhoods a walk reads
  (topology, path, address spaces, the page's change ticks);
- `search`: ids by name, MAC, address, or part of any of them;
- `samples`: counter series and their totals;
- `stats`: what the store holds (counts, span, kinds, sources);
- `triage`: what a policy is checked on: versions and placement relations at a
  window's start and those begun in it, and the instants the network changed;
- `probes`: the `probe.*` series of some entities over a window (health);
- `changes`: a window's changes near some entities, and how many it held (triage);
- `arrivals`: the journal's newest entry and the earliest instant after one (admission);
- `rows`: what they share: the live set's SQL, the time bounds, batch decoding.

Times are integer microseconds here; `vtrail.query` speaks datetimes.
"""

"""Planning interventions on hosts, and auditing them (docs/maintenance.md): what draining
a host would move and where (`drain`), which hosts can be drained together and in what
order (`rolling`), and what really happened in a maintenance window (`review`)."""

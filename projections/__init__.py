"""Read models built from the event log (cases, deadlines, inbox, children, stats), each with
the queries that read it, and the runners that keep them current."""

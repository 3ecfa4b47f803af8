"""Read models built from the event log (cases, deadlines, inbox, children, stats) and runners."""

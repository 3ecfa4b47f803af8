"""Domain tests: stage rules, legal grounds, approvals, deadlines, child files, chain."""

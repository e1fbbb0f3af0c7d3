"""Topic ballots: patrons choose what the newsroom covers next, and hear what their votes commissioned."""

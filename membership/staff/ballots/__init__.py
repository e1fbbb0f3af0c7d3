"""Staff ballots (editors and admins): drafting and publishing ballots, results, the article each topic
became, and the topic-suggestion queue."""

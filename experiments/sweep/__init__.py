"""Running many configurations: the launcher, the search, the checks and summary around a sweep."""

"""Running one configuration: the task, its files, its config rules and signals."""

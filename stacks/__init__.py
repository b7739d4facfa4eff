"""Stack configuration and the program that turns it into one serving host."""

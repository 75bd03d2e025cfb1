"""Judging a lead: the rules file, the score's components, junk detection and the route to review or sync."""

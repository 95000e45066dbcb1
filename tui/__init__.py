"""llmbench-tui's Textual front end. Presents engine events; owns no logic."""

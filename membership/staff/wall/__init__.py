"""Staff moderation of the supporter wall (editors and admins): approve messages, hide entries."""

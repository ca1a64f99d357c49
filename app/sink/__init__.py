"""Where undo statements go: the downstream (``mysql``) or a reviewable SQL file (``dryrun``)."""

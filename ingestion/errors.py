class IngestError(Exception):
    """A file or record that cannot be ingested; the message is shown to the user as the reason."""

"""Mail in: the IMAP client, fetching into the spool, the spool itself, MIME parsing and mail hygiene."""

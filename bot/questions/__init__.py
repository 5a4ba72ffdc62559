"""Operations: the question log (``log``), its schema and migrations (``schema``), and the
reports read from it (``stats``)."""

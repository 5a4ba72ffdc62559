"""The index layer: documents in, searchable vectors out.

It owns reading documents from disk (``corpus``, with one reader per format in ``formats``
and sentence splitting in ``sentences``), tagging who is speaking (``attribution``), the
offline, hash-verified embedding model (``model``, ``embedder``), the chromadb store
(``store``), the incremental, versioned build (``build``) and the check that a published
version is still whole (``integrity``). It imports no other project code.
"""

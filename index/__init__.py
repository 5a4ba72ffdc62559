"""The index layer: documents in, searchable vectors out.

It owns reading documents from disk (``corpus``), tagging who is speaking (``attribution``),
the offline, hash-verified embedding model (``model``, ``embedder``), the chromadb store
(``store``) and the incremental, versioned build (``build``). It imports no other project code.
"""

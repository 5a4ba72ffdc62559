"""Real documents made by the tests: a PDF written with pypdf (text in Helvetica, an outline,
a /Title), so no binary fixture needs shipping."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def make_pdf(
    path: Path,
    pages: Sequence[Sequence[str]],
    *,
    title: str = "",
    outline: Sequence[tuple[str, int]] = (),
) -> Path:
    """A PDF at ``path``: each page's lines top to bottom ("" is a blank line), an outline of
    (title, 0-based page) entries, and ``title`` as its /Title."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    font = writer._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
            }
        )
    )
    for lines in pages:
        page = writer.add_blank_page(612, 792)
        ops = ["BT", "/F1 11 Tf", "14 TL", "72 720 Td"]
        for line in lines:
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({escaped}) Tj T*")
        ops.append("ET")
        content = DecodedStreamObject()
        content.set_data("\n".join(ops).encode("latin-1"))
        page[NameObject("/Contents")] = writer._add_object(content)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
    if title:
        writer.add_metadata({"/Title": title})
    for entry, page_index in outline:
        writer.add_outline_item(title=entry, page_number=page_index)
    with path.open("wb") as out:
        writer.write(out)
    return path

"""What the benchmark scripts share: printing a finished results document and writing it where asked."""

from __future__ import annotations

from pathlib import Path


def publish(lines: list[str], out_path: Path | None) -> int:
    """Print the document ``lines`` form and write it to ``out_path`` unless that is None; the exit code 0.

    A quick run passes None: it never overwrites the committed results.
    """
    document = "\n".join(lines)
    print(document)
    if out_path is not None:
        out_path.write_text(document, encoding="utf-8")
        print(f"wrote {out_path}")
    return 0

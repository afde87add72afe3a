"""What an executed notebook printed: every code cell's stdout, ``text/plain`` results and folded answers
(``helpers.answers.folded``), as the determinism and claims tests read them."""

from __future__ import annotations


def _folded_answer(output) -> bool:
    """A solution's output from helpers.answers.folded (its text/plain holds the printed answer)."""
    return output["output_type"] == "display_data" and output["data"].get("text/html", "").startswith("<details>")


def cell_texts(notebook) -> list[tuple[int, str]]:
    """``(cell index, text)`` for every code cell that printed something: its stdout chunks joined as they came
    (they can be split anywhere), each result's and folded answer's ``text/plain`` on lines of its own."""
    texts = []
    for index, cell in enumerate(notebook["cells"]):
        text, after_stream = "", True
        for output in cell.get("outputs", []):
            stream = output["output_type"] == "stream"
            if stream and output["name"] == "stdout":
                part = output["text"]
            elif output["output_type"] == "execute_result" or _folded_answer(output):
                part = output["data"].get("text/plain", "")
            else:
                continue
            if text and not text.endswith("\n") and not (stream and after_stream):
                text += "\n"
            text, after_stream = text + part, stream
        if text:
            texts.append((index, text))
    return texts


def printed(notebook) -> str:
    """Everything ``cell_texts`` finds, one cell after another, joined by newlines."""
    return "\n".join(text for _, text in cell_texts(notebook))

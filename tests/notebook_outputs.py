"""What an executed notebook printed: every code cell's stdout, ``text/plain`` results and folded answers
(``helpers.answers.folded``), as the determinism and claims tests read them."""

from __future__ import annotations


def _folded_answer(output) -> bool:
    """A solution's output from helpers.answers.folded (its text/plain holds the printed answer)."""
    return output["output_type"] == "display_data" and output["data"].get(
        "text/html", ""
    ).startswith("<details>")


def _outputs(cell) -> list:
    """A cell's outputs, without the stream chunks the book build leaves behind: MyST-NB (1.4, ``nb_merge_streams``)
    merges a cell's stdout chunks into its first stdout output in place and keeps the others, so the notebook it
    writes to ``build/jupyter_execute`` holds them twice. Recognised by the first chunk ending with the others."""
    outputs = cell.get("outputs", [])
    chunks = [o["text"] for o in outputs if o["output_type"] == "stream" and o["name"] == "stdout"]
    rest = "".join(chunk.rstrip() + "\n" for chunk in chunks[1:] if chunk.rstrip())
    if len(chunks) < 2 or not rest or not chunks[0].endswith(rest):
        return outputs
    first = next(o for o in outputs if o["output_type"] == "stream" and o["name"] == "stdout")
    return [
        o
        for o in outputs
        if o is first or not (o["output_type"] == "stream" and o["name"] == "stdout")
    ]


def cell_texts(notebook) -> list[tuple[int, str]]:
    """``(cell index, text)`` for every code cell that printed something: its stdout chunks joined as they came
    (they can be split anywhere), each result's and folded answer's ``text/plain`` on lines of its own."""
    texts = []
    for index, cell in enumerate(notebook["cells"]):
        text, after_stream = "", True
        for output in _outputs(cell):
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

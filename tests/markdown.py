"""The fenced code blocks of a markdown file (README.md, the pages of docs/).

A block is written ```` ```LANG ```` or, on the site, ```` ```{code-block} LANG ```` with
``:option: value`` lines first (``:caption: NAME`` names the file a reader saves it as).
An HTML comment right before a block, ``<!-- KEY: VALUE -->``, is a note for the tests
that run it (``not run: REASON``, ``background: PORT``); a reader never sees it.
"""

import re
from typing import NamedTuple

FENCE = re.compile(r"^```(?P<info>[^`\n]*)\n(?P<code>.*?)^```[ \t]*$", re.S | re.M)
NOTE = re.compile(r"<!--\s*(?P<key>[a-z ]+?):\s*(?P<value>\S[^>]*?)\s*-->\s*\n")
DIRECTIVE = re.compile(r"\{(?:code-block|code|sourcecode)\}\s*(?P<lang>\w*)")
OPTION = re.compile(r":(?P<name>[\w-]+):[ \t]*(?P<value>.*)")


class Block(NamedTuple):
    line: int  # the number of the fence's first line
    lang: str
    code: str
    notes: dict[str, str]  # the notes right before the block
    options: dict[str, str]  # a directive's options (caption, ...)

    @property
    def not_run(self) -> str | None:
        """The reason given for leaving this block out, if it is left out."""
        return self.notes.get("not run")


def blocks(text: str) -> list[Block]:
    """The fenced blocks of markdown ``text``, in order."""
    found = []
    for match in FENCE.finditer(text):
        info, code = match["info"].strip(), match["code"]
        directive = DIRECTIVE.match(info)
        options = {}
        if directive:
            info = directive["lang"]
            lines = code.splitlines(keepends=True)
            while lines and (option := OPTION.match(lines[0].strip())):
                options[option["name"]] = option["value"].strip()
                lines.pop(0)
            code = "".join(lines).lstrip("\n")
        elif info.startswith("{"):
            continue  # another directive (toctree, eval-rst): not code
        notes = {}
        end = match.start()
        # the notes in a run of comments that ends right at the fence
        for note in reversed(list(NOTE.finditer(text, 0, end))):
            if note.end() != end:
                break
            notes[note["key"]] = note["value"]
            end = note.start()
        found.append(Block(text.count("\n", 0, match.start()) + 1, info.split()[0] if info
                           else "", code, notes, options))
    return found

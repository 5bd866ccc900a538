"""Whether Telegram will take a text in HTML parse mode: the tags it knows, properly
nested, something left to show, and at most 4096 characters once the tags are gone.

Checked before a text we did not write ourselves is sent: an owner's override of a
shipped message (``bot.texts``) and a broadcast's message for each recipient
(``bot.services.campaigns.broadcast_text``), so a wording Telegram would refuse with a
400 is caught while the shipped text can still go, or before anything is queued.
"""

from __future__ import annotations

from html.parser import HTMLParser

MAX_CHARS = 4096  # a message's text after entity parsing
TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
     "tg-emoji", "code", "pre", "blockquote"}
)  # fmt: skip
LINK_SCHEMES = ("http://", "https://", "tg://", "mailto:")


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.chars = 0
        self.visible = False
        self.error: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.error is None:
            if tag not in TAGS:
                self.error = f'unsupported tag "<{tag}>"'
            elif tag == "span" and ("class", "tg-spoiler") not in attrs:
                self.error = 'a "<span>" must have class "tg-spoiler"'
            elif tag == "a" and not (dict(attrs).get("href") or "").startswith(LINK_SCHEMES):
                self.error = 'a link ("<a>") without a valid href'
        self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if self.error is not None:
            return
        if not self.stack or self.stack[-1] != tag:
            self.error = f'unmatched end tag "</{tag}>"'
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.chars += len(data)
        self.visible = self.visible or bool(data.strip())


def problem(text: str) -> str | None:
    """Why Telegram would refuse ``text`` as an HTML message, or None."""
    parser = _Parser()
    parser.feed(text)
    parser.close()
    if parser.error is None and parser.stack:
        parser.error = f'"<{parser.stack[-1]}>" is never closed'
    if parser.error is not None:
        return f"can't parse the HTML: {parser.error}"
    if not parser.visible:
        return "the message is empty"
    if parser.chars > MAX_CHARS:
        return f"the message is too long ({parser.chars} characters, at most {MAX_CHARS})"
    return None

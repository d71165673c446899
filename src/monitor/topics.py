"""Topic queries: parse once, match every article against every topic.

Syntax (the web-search/Lucene boolean syntax users already know)::

    query    := or_expr
    or_expr  := and_expr ( OR and_expr )*
    and_expr := unary ( [AND] unary )*          adjacent terms are ANDed
    unary    := ( NOT | "-" ) unary | atom       "-" must touch its operand: -sports
    atom     := "(" or_expr ")"
              | ( "title:" | "body:" ) ( word | phrase | "(" or_expr ")" )   no space after ":"
              | word | phrase
    word     := letters/digits, optionally ending in "*" (prefix wildcard: negotiat*)
    phrase   := '"' words '"'                    the words in this order, nothing between

Precedence is NOT > AND > OR: ``a OR b c`` means ``a OR (b AND c)`` and ``NOT a b`` means
``(NOT a) AND b``. Operators are recognised in any case (``and``, ``Or``, ``NOT``); to look
for the word itself, quote it: ``"not"``.

Matching rules:

* Whole words only, case-insensitive (Unicode casefold) and accent-insensitive both ways:
  ``erdogan`` matches "Erdoğan", ``Erdoğan`` matches "Erdogan", ``talks`` does not match
  "talkshow" (use ``talk*``). A few letters without a decomposition are folded too
  (ı→i, ø→o, ł→l, đ→d, æ→ae, œ→oe).
* Text is split into words at anything that is not a letter or digit, in the query and in the
  article alike, so ``cease-fire`` in a query is the phrase "cease fire" and matches
  "cease-fire", "cease fire" and "Cease—fire". Scripts written without spaces (Chinese,
  Japanese, Thai) are not segmented: there a "word" is a whole run of characters.
* ``title:`` scopes one term (or group) to the article title; ``match(..., title_only=True)``
  scopes the whole query.
* Relevance: a keyword anywhere in a long body is weak evidence ("shooting" in a photo caption,
  "satellite" once in a missile story). A mention is **in passing** when the term occurs once in
  the body, past the lead (the body's first :data:`LEAD_WORDS` words), and not in the title; a
  term is **prominent** in the title, in the lead, or repeated (:data:`REPEATED` times or more).
  ``body:`` marks a term (or group) whose every mention counts. The relevance levels
  (:data:`RELEVANCE`, a topic's ``relevance``):

  - ``anywhere``: every mention counts;
  - ``prominent`` (topics' default): the match must rest on at least one prominent (or
    ``body:``) term; the others may be mentioned in passing;
  - ``strict``: mentions in passing do not count at all, every term must be prominent (or
    ``body:``).

  NOT excludes an article that mentions its term anywhere. The match says where each term was
  found, and which were mentioned only in passing.

Malformed queries raise :class:`~monitor.errors.QueryError` with the 0-based ``position`` of the
problem. :meth:`Query.match` tokenises the article itself; when one article is matched against
many topics, build a :class:`Document` once and call :meth:`Query.match_document` for each.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from dataclasses import dataclass
from typing import TypeAlias

from monitor.errors import QueryError

__all__ = [
    "LEAD_WORDS",
    "RELEVANCE",
    "REPEATED",
    "Document",
    "Query",
    "TopicMatch",
    "parse_query",
    "search_fold",
]

LEAD_WORDS = 60  # a term among the body's first LEAD_WORDS words is in the lead
REPEATED = 2  # a term found this many times in the body is prominent wherever it is
RELEVANCE = ("anywhere", "prominent", "strict")

# -- text normalisation ----------------------------------------------------------------------

_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")
# Letters that NFKD leaves alone but that readers treat as accented forms of a Latin letter.
_EXTRA_FOLDS = str.maketrans(
    {"ı": "i", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "æ": "ae", "œ": "oe", "þ": "th"}
)
_WORD = re.compile(r"\w+")
_MIN_PREFIX = 2
_MAX_DEPTH = 64


def search_fold(text: str) -> str:
    """Lower-case and strip accents, the same way for queries and articles."""
    if text.isascii():
        return text.lower()
    # casefold before NFKD: "İ" casefolds to "i" + combining dot, which is then dropped.
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return _COMBINING.sub("", decomposed).translate(_EXTRA_FOLDS)


def _words(text: str) -> list[str]:
    return _WORD.findall(search_fold(text))


class _Field:
    """One tokenised text: words in order, its vocabulary, and (built on demand) where each word
    occurs and the sorted vocabulary."""

    __slots__ = ("_positions", "_sorted", "vocabulary_set", "words")

    def __init__(self, text: str) -> None:
        self.words = _words(text)
        self.vocabulary_set = frozenset(self.words)
        self._positions: dict[str, list[int]] | None = None
        self._sorted: list[str] | None = None

    @property
    def positions(self) -> dict[str, list[int]]:
        # Built on the first phrase lookup only; most terms are single words.
        if self._positions is None:
            positions: dict[str, list[int]] = {}
            for index, word in enumerate(self.words):
                positions.setdefault(word, []).append(index)
            self._positions = positions
        return self._positions

    def vocabulary(self) -> list[str]:
        # Built on the first wildcard lookup only; most queries have none.
        if self._sorted is None:
            self._sorted = sorted(self.vocabulary_set)
        return self._sorted

    def with_prefix(self, prefix: str) -> list[str]:
        vocabulary = self.vocabulary()
        found = []
        for index in range(bisect_left(vocabulary, prefix), len(vocabulary)):
            if not vocabulary[index].startswith(prefix):
                break
            found.append(vocabulary[index])
        return found

    def contains(self, elements: tuple[_Element, ...]) -> bool:
        first, first_is_prefix = elements[0]
        if len(elements) == 1:
            if first_is_prefix:
                return bool(self.with_prefix(first))
            return first in self.vocabulary_set
        return bool(self.occurrences(elements, first_only=True))

    def occurrences(self, elements: tuple[_Element, ...], *, first_only: bool = False) -> list[int]:
        """Where the term starts, in word positions (unordered); just one with ``first_only``."""
        first, first_is_prefix = elements[0]
        starts: list[int] = []
        for word in self.with_prefix(first) if first_is_prefix else [first]:
            starts.extend(self.positions.get(word, ()))
        words, span = self.words, len(elements)
        found: list[int] = []
        for start in starts:
            if start + span > len(words):
                continue
            if all(
                words[start + k].startswith(token) if is_prefix else words[start + k] == token
                for k, (token, is_prefix) in enumerate(elements[1:], 1)
            ):
                found.append(start)
                if first_only:
                    break
        return found

    def where(self, elements: tuple[_Element, ...]) -> str:
        """``lead``, ``repeated``, ``once`` (a single mention past the lead) or ``""``."""
        found = self.occurrences(elements)
        if not found:
            return ""
        if min(found) < LEAD_WORDS:
            return "lead"
        return "repeated" if len(found) >= REPEATED else "once"


class Document:
    """An article tokenised once, to be matched against any number of queries."""

    __slots__ = ("body", "title")

    def __init__(self, title: str, text: str) -> None:
        self.title = _Field(title)
        self.body = _Field(text)


# -- query tree ------------------------------------------------------------------------------

_Element: TypeAlias = tuple[str, bool]  # (folded word, is a prefix)


@dataclass(frozen=True, slots=True)
class _Term:
    label: str  # as the user wrote it, shown in explanations
    elements: tuple[_Element, ...]
    title_only: bool
    position: int
    anywhere: bool = False  # body: one mention anywhere counts, whatever the relevance

    def __str__(self) -> str:
        if self.title_only:
            return f"title:{self.label}"
        return f"body:{self.label}" if self.anywhere else self.label


@dataclass(frozen=True, slots=True)
class _Not:
    child: _Node
    position: int

    def __str__(self) -> str:
        return f"NOT {self.child}"


@dataclass(frozen=True, slots=True)
class _And:
    children: tuple[_Node, ...]

    def __str__(self) -> str:
        return "(" + " AND ".join(str(c) for c in self.children) + ")"


@dataclass(frozen=True, slots=True)
class _Or:
    children: tuple[_Node, ...]

    def __str__(self) -> str:
        return "(" + " OR ".join(str(c) for c in self.children) + ")"


_Node: TypeAlias = _Term | _Not | _And | _Or
_Hit: TypeAlias = tuple[int, str, str]  # (position in query, label, where: title/lead/...)


@dataclass(frozen=True, slots=True)
class TopicMatch:
    """Why an article matched: the positive terms found, in query order.

    ``title_terms`` are those found in the title; the others were found in the body.
    ``weak_terms`` were found only once, past the lead (counted because the topic's relevance is
    ``anywhere`` or the query said ``body:``).
    """

    terms: tuple[str, ...]
    title_terms: tuple[str, ...] = ()
    weak_terms: tuple[str, ...] = ()

    def explain(self) -> str:
        """E.g. ``title: "istanbul"; body: "talks"; once, deep in the text: "ceasefire"``."""
        body = [t for t in self.terms if t not in self.title_terms and t not in self.weak_terms]
        parts = []
        if self.title_terms:
            parts.append("title: " + ", ".join(_quoted(t) for t in self.title_terms))
        if body:
            parts.append("body: " + ", ".join(_quoted(t) for t in body))
        if self.weak_terms:
            parts.append(
                "once, deep in the text: " + ", ".join(_quoted(t) for t in self.weak_terms)
            )
        return "; ".join(parts)


def _quoted(label: str) -> str:
    return label if label.startswith('"') else f'"{label}"'


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed topic query. Build it with :func:`parse_query`."""

    text: str
    root: _Node

    def __str__(self) -> str:
        """The query fully parenthesised, as the parser read it."""
        return str(self.root)

    def match(
        self, title: str, text: str, *, title_only: bool = False, relevance: str = "anywhere"
    ) -> TopicMatch | None:
        """Match one article; ``None`` when it does not match."""
        return self.match_document(
            Document(title, text), title_only=title_only, relevance=relevance
        )

    def match_document(
        self, doc: Document, *, title_only: bool = False, relevance: str = "anywhere"
    ) -> TopicMatch | None:
        """Match an article tokenised once with :class:`Document`, at one of the
        :data:`RELEVANCE` levels (see the module's relevance rule)."""
        if relevance not in RELEVANCE:
            raise ValueError(f"relevance must be one of {RELEVANCE}, not {relevance!r}")
        hits: list[_Hit] = []
        if not _evaluate(self.root, doc, _Mode(title_only, relevance == "strict"), hits):
            return None
        if relevance == "prominent" and all(where == "once" for _, _, where in hits):
            return None  # every term it rests on is mentioned only in passing
        hits.sort()
        terms = tuple(dict.fromkeys(label for _, label, _ in hits))
        in_title = tuple(dict.fromkeys(label for _, label, where in hits if where == "title"))
        weak = tuple(
            dict.fromkeys(
                label
                for _, label, where in hits
                if where in {"once", "once, body:"} and label not in in_title
            )
        )
        return TopicMatch(terms=terms, title_terms=in_title, weak_terms=weak)


@dataclass(frozen=True, slots=True)
class _Mode:
    title_only: bool
    strict: bool  # a mention in passing does not count


def _evaluate(node: _Node, doc: Document, mode: _Mode, hits: list[_Hit]) -> bool:
    """Whether ``node`` matches; appends the positive terms that made it match to ``hits``."""
    if isinstance(node, _Term):
        if doc.title.contains(node.elements):
            hits.append((node.position, node.label, "title"))
            return True
        if mode.title_only or node.title_only or not doc.body.contains(node.elements):
            return False
        where = doc.body.where(node.elements)
        if where == "once" and node.anywhere:
            where = "once, body:"  # in passing, but the query says every mention counts
        elif where == "once" and mode.strict:
            return False
        hits.append((node.position, node.label, where))
        return True
    if isinstance(node, _Not):
        # Terms under NOT never explain a match; evaluate into a throw-away list. Any mention
        # excludes: "talks -sports" means no article that speaks of sports at all.
        inner = _Mode(mode.title_only, strict=False)
        return not _evaluate(node.child, doc, inner, [])
    if isinstance(node, _And):
        found: list[_Hit] = []
        for child in node.children:
            if not _evaluate(child, doc, mode, found):
                return False
        hits.extend(found)
        return True
    # OR: every matching branch is part of the explanation, so no short-circuit.
    matched = False
    for child in node.children:
        matched = _evaluate(child, doc, mode, hits) or matched
    return matched


# -- parsing ---------------------------------------------------------------------------------

_OPERATORS = frozenset({"AND", "OR", "NOT"})
_FIELDS = {"title": "TITLE", "body": "BODY"}
_FIELD = re.compile(r"([^\W\d_]+):")
_STOP = frozenset('()"')


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # WORD PHRASE LPAREN RPAREN AND OR NOT MINUS TITLE BODY
    text: str
    position: int


_OPERAND_START = frozenset({"WORD", "PHRASE", "LPAREN", "NOT", "MINUS", "TITLE", "BODY"})


def parse_query(text: str) -> Query:
    """Parse a topic query; raise :class:`QueryError` (with ``position``) if it is malformed."""
    tokens = _lex(text)
    if not tokens:
        raise QueryError("empty query", query=text, position=0)
    parser = _Parser(text, tokens)
    root = parser.parse()
    unanchored = _unanchored(root)
    if unanchored is not None:
        raise QueryError(
            "the query matches articles that contain none of its terms; "
            "NOT must be combined with a term (e.g. talks NOT sports)",
            query=text,
            position=unanchored.position,
        )
    return Query(text=text, root=root)


def _lex(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char.isspace():
            i += 1
        elif char == "(":
            tokens.append(_Token("LPAREN", char, i))
            i += 1
        elif char == ")":
            tokens.append(_Token("RPAREN", char, i))
            i += 1
        elif char == '"':
            end = text.find('"', i + 1)
            if end < 0:
                raise QueryError(
                    "unterminated phrase (missing closing quote)", query=text, position=i
                )
            tokens.append(_Token("PHRASE", text[i + 1 : end], i))
            i = end + 1
        elif char == "-":
            if i + 1 >= n or text[i + 1].isspace() or text[i + 1] == ")":
                raise QueryError("'-' must be followed directly by a term", query=text, position=i)
            tokens.append(_Token("MINUS", char, i))
            i += 1
        else:
            end = i
            while end < n and not text[end].isspace() and text[end] not in _STOP:
                end += 1
            tokens.extend(_lex_word(text, i, end))
            i = end
    return tokens


def _lex_word(text: str, start: int, end: int) -> list[_Token]:
    word = text[start:end]
    if word.upper() in _OPERATORS:
        return [_Token(word.upper(), word, start)]
    field = _FIELD.match(word)
    if field is None:
        return [_Token("WORD", word, start)]
    name = field.group(1)
    if name.lower() not in _FIELDS:
        raise QueryError(
            f"unknown field {name + ':'!r} (only title: and body: are supported; quote the "
            "text to search for it literally)",
            query=text,
            position=start,
        )
    label = name.lower()
    scoped = _Token(_FIELDS[label], name + ":", start)
    rest = word[field.end() :]
    if rest:
        if rest.startswith("-"):
            raise QueryError(
                f"write a negated {label} term as -{label}:word", query=text, position=start
            )
        return [scoped, _Token("WORD", rest, start + field.end())]
    if end < len(text) and text[end] in '("':
        return [scoped]
    raise QueryError(
        f"{label}: must be followed directly by a word, a quoted phrase or a group",
        query=text,
        position=start,
    )


class _Parser:
    def __init__(self, query: str, tokens: list[_Token]) -> None:
        self.query = query
        self.tokens = tokens
        self.index = 0
        self.depth = 0

    def error(self, message: str, position: int) -> QueryError:
        return QueryError(message, query=self.query, position=position)

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def parse(self) -> _Node:
        node = self.parse_or()
        extra = self.peek()
        if extra is not None:
            # parse_or stops only at ")" or the end
            raise self.error("unbalanced ')' (no matching '(')", extra.position)
        return node

    def require_operand(self, operator: _Token) -> None:
        following = self.peek()
        name = "NOT ('-')" if operator.kind == "MINUS" else operator.kind
        if following is None:
            raise self.error(f"{name} needs a term after it", operator.position)
        if following.kind not in _OPERAND_START:
            raise self.error(
                f"expected a term after {name}, found {following.text!r}", following.position
            )

    def parse_or(self) -> _Node:
        children = [self.parse_and()]
        while (token := self.peek()) is not None and token.kind == "OR":
            self.take()
            self.require_operand(token)
            children.append(self.parse_and())
        return children[0] if len(children) == 1 else _Or(tuple(children))

    def parse_and(self) -> _Node:
        children = [self.parse_unary()]
        while (token := self.peek()) is not None:
            if token.kind == "AND":
                self.take()
                self.require_operand(token)
            elif token.kind not in _OPERAND_START:
                break
            children.append(self.parse_unary())
        return children[0] if len(children) == 1 else _And(tuple(children))

    def parse_unary(self) -> _Node:
        token = self.peek()
        if token is not None and token.kind in {"NOT", "MINUS"}:
            self.take()
            self.require_operand(token)
            with _Nesting(self, token):
                return _Not(self.parse_unary(), token.position)
        return self.parse_atom(scope="")

    def parse_atom(self, *, scope: str) -> _Node:
        token = self.peek()
        if token is None:
            raise self.error("query ends where a term was expected", len(self.query))
        if token.kind in {"AND", "OR"}:
            raise self.error(f"{token.kind} needs a term before it", token.position)
        if token.kind == "RPAREN":
            raise self.error("unbalanced ')' (no matching '(')", token.position)
        self.take()
        if token.kind in {"TITLE", "BODY"}:  # the lexer emits a term or group right after
            return self.parse_atom(scope=token.kind)
        if token.kind == "LPAREN":
            closing = self.peek()
            if closing is not None and closing.kind == "RPAREN":
                raise self.error("empty parentheses", token.position)
            with _Nesting(self, token):
                inner = self.parse_or_scoped(scope)
            closing = self.peek()
            if closing is None or closing.kind != "RPAREN":
                raise self.error("unbalanced '(' (missing ')')", token.position)
            self.take()
            return inner
        if token.kind == "PHRASE":
            return self.term(token, f'"{token.text}"', token.text, scope)
        if token.kind == "WORD":
            return self.term(token, token.text, token.text, scope)
        raise self.error(f"unexpected {token.text!r}", token.position)  # pragma: no cover

    def parse_or_scoped(self, scope: str) -> _Node:
        node = self.parse_or()
        return _scoped(node, scope) if scope else node

    def term(self, token: _Token, label: str, text: str, scope: str) -> _Term:
        elements: list[_Element] = []
        for piece in text.split():
            elements.extend(self.elements(piece, token))
        if not elements:
            what = "empty phrase" if token.kind == "PHRASE" else f"no letters or digits in {text!r}"
            raise self.error(what, token.position)
        return _Term(
            label, tuple(elements), scope == "TITLE", token.position, anywhere=scope == "BODY"
        )

    def elements(self, piece: str, token: _Token) -> list[_Element]:
        is_prefix = piece.endswith("*")
        core = piece[:-1] if is_prefix else piece
        if "*" in core:
            raise self.error("only a trailing * (prefix wildcard) is supported", token.position)
        words = _words(core)
        if is_prefix and (not words or len(words[-1]) < _MIN_PREFIX):
            raise self.error(
                f"* needs at least {_MIN_PREFIX} letters or digits before it", token.position
            )
        return [(word, is_prefix and k == len(words) - 1) for k, word in enumerate(words)]


class _Nesting:
    """Bounds recursion so a hostile query gets a QueryError, not a RecursionError."""

    __slots__ = ("parser", "token")

    def __init__(self, parser: _Parser, token: _Token) -> None:
        self.parser = parser
        self.token = token

    def __enter__(self) -> None:
        self.parser.depth += 1
        if self.parser.depth > _MAX_DEPTH:
            raise self.parser.error(f"nested deeper than {_MAX_DEPTH} levels", self.token.position)

    def __exit__(self, *exc: object) -> None:
        self.parser.depth -= 1


def _scoped(node: _Node, scope: str) -> _Node:
    """``node`` with every term scoped to the title (TITLE) or counted anywhere (BODY)."""
    if isinstance(node, _Term):
        if scope == "TITLE":
            return _Term(node.label, node.elements, True, node.position)
        return _Term(node.label, node.elements, node.title_only, node.position, anywhere=True)
    if isinstance(node, _Not):
        return _Not(_scoped(node.child, scope), node.position)
    if isinstance(node, _And):
        return _And(tuple(_scoped(c, scope) for c in node.children))
    return _Or(tuple(_scoped(c, scope) for c in node.children))


def _matches_without_terms(node: _Node) -> bool:
    """The value of ``node`` for an article that contains none of its terms."""
    if isinstance(node, _Term):
        return False
    if isinstance(node, _Not):
        return not _matches_without_terms(node.child)
    if isinstance(node, _And):
        return all(_matches_without_terms(c) for c in node.children)
    return any(_matches_without_terms(c) for c in node.children)


def _unanchored(node: _Node) -> _Not | None:
    """The outermost NOT that lets the query match an article without any of its terms."""
    if not _matches_without_terms(node):
        return None
    if isinstance(node, _Not):
        return node
    if isinstance(node, _Term):  # pragma: no cover - a term alone never matches without terms
        return None
    return next((found for c in node.children if (found := _unanchored(c)) is not None), None)

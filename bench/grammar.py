"""Code grammars: what a production line can print, and the reading each engine's output is
closest to within it.

A grammar file holds named templates, one per line (a ``#`` at the start of a line or after
a space starts a comment; ``LOT#{9:5}`` prints a ``#``, and so does ``\#`` anywhere)::

    # grammar.txt beside manifest.csv
    lot:  LOT {9:10}
    lot:  L{9:4} {9:2}:{9:2}
    exp:  EXP:{9:2}/{9:2,4}
    code: {@lot}
    code: {@lot} {@exp}

Outside braces a character is itself; a space is where the code prints one (reading it is
optional). ``{9}`` is a digit, ``{A}`` an upper-case letter, ``{X}`` either, ``{P}`` one of
``:/-.,``; ``{9:10}`` is ten digits, ``{X:8-14}`` eight to fourteen, ``{9:2,4}`` two or
four; ``{@name}`` is any template of that name. Several lines with one name are
alternatives. The grammar's language is its ``code`` templates (else the last name).
A line ``%find`` says that the code stands among other words (a plate among its state's
name and slogan): the run of words closest to the grammar is taken, and of equally close
ones, one that mixes letters and digits, then the longest.

``Grammar.correct`` finds the accepted string closest to a reading, where reading one of
the usual confusions (O/0, I/1, S/5, B/8, Z/2, G/6, D/0...) costs less than another edit, a
missing separator costs less than a missing character, and spaces are free; a reading
further than ``max_cost`` from everything is kept unchanged and flagged.

Device side: Python 3.6, standard library only.
"""
import functools
import hashlib
import os
import re
import unicodedata
from typing import Dict, List, NamedTuple, Optional, Tuple

CLASSES = {"9": "0123456789", "A": "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "X": "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
           "P": ":/-.,"}
# pairs printed or read alike: one is often read as the other
CONFUSABLE = ("O0", "D0", "Q0", "I1", "L1", "T1", "S5", "B8", "Z2", "G6", "A4", "U0", ":.", ",.", "/1", "-.")
CONFUSION_COST = 0.3
CASE_COST = 0.1
LITERAL_INSERT_COST = 0.5  # a separator the reading dropped (`EXP05/2025`)
SEPARATOR_DELETE_COST = 1.5  # a separator the reading has and the code has not: engines seldom invent one
EDIT_COST = 1.0
_TOKEN = re.compile(r"\{([^{}]*)\}|([^{}])")
_COMMENT = re.compile(r"(?:^|(?<=\s))#.*$")  # a '#' that starts the line or follows a space: the rest is a comment
_SLOT = re.compile(r"^(?:@([\w.-]+)|([9AXP])(?::(\d+)(?:-(\d+))?((?:,\d+)*))?)$")


class GrammarError(Exception):
    """The grammar file cannot be used; the message names the file and line."""


class Correction(NamedTuple):
    text: str  # the closest accepted reading (the reading itself when ``far``)
    cost: float  # its edit cost from the reading
    far: bool  # nothing accepted lies within ``max_cost``: the reading is kept


def _sub_costs() -> Dict[Tuple[str, str], float]:
    costs = {}
    for a, b in CONFUSABLE:
        costs[(a, b)] = costs[(b, a)] = CONFUSION_COST
    return costs


SUB_COSTS = _sub_costs()


@functools.lru_cache(maxsize=4096)
def _read_as(char: str, chars: str) -> Tuple[str, float]:
    """What a slot allowing ``chars`` makes of a read ``char``, and what that costs."""
    if char in chars:
        return char, 0.0
    if char.upper() in chars:  # read in lower case
        return char.upper(), CASE_COST
    return min(((c, SUB_COSTS.get((char, c), EDIT_COST)) for c in chars), key=lambda pair: pair[1])


MAX_STATES = 20000  # a grammar expanding to more is refused: matching and decoding cost grows with it


class _Graph:
    """An acyclic automaton: node 0 starts, ``end`` accepts; each edge (source, target,
    chars, literal) emits one character of ``chars`` (None: a free space, "": nothing)."""

    def __init__(self, source: str = "<grammar>") -> None:
        self.edges: List[List[tuple]] = [[]]
        self.source = source

    def node(self) -> int:
        if len(self.edges) >= MAX_STATES:
            raise GrammarError("%s: its templates expand to more than %d states (a template used many times over, "
                               "or many long optional slots); matching it would take too long, so simplify it"
                               % (self.source, MAX_STATES))
        self.edges.append([])
        return len(self.edges) - 1

    def _closure(self, nodes: set) -> set:
        """``nodes`` and every node reachable from them without reading a character."""
        out, todo = set(nodes), list(nodes)
        while todo:
            for target, chars, _ in self.edges[todo.pop()]:
                if (chars is None or chars == "") and target not in out:
                    out.add(target)
                    todo.append(target)
        return out

    def reached(self, text: str) -> set:
        """The nodes where reading all of ``text`` from node 0 can end (a set of states at a
        time: time linear in the text, whatever the grammar)."""
        current = self._closure({0})
        for char in text:
            following = set()
            for node in current:
                for target, chars, _ in self.edges[node]:
                    if (char in chars if chars else chars is None and char == " "):
                        following.add(target)
            if not following:
                return following
            current = self._closure(following)
        return current


class Grammar:
    def __init__(self, text: str, source: str = "<grammar>") -> None:
        self.source = source
        self.templates: Dict[str, List[Tuple[int, List[tuple]]]] = {}  # name -> [(line, tokens)]
        self.find = False
        for number, raw in enumerate(text.splitlines(), start=1):
            line = _COMMENT.sub("", raw).replace("\\#", "#").rstrip()
            if not line.strip():
                continue
            if line.strip() == "%find":
                self.find = True
                continue
            name, sep, body = line.partition(":")
            name = name.strip()
            if not sep or not re.match(r"^[\w.-]+$", name) or not body.strip():
                raise GrammarError("%s line %d: expected 'name: template', got %r" % (source, number, raw.strip()))
            self.templates.setdefault(name, []).append((number, self._parse(body.strip(), number)))
        if not self.templates:
            raise GrammarError("%s: no template" % source)
        self.top = "code" if "code" in self.templates else list(self.templates)[-1]
        self._graph = _Graph(source)
        self.top_ends: List[int] = []  # where each top-level template's path ends, before they join
        self.end = self._build(self.top, 0, (), ends=self.top_ends)

    # -- parsing ----------------------------------------------------------------------------
    def _parse(self, body: str, number: int) -> List[tuple]:
        tokens = []
        for match in _TOKEN.finditer(body):
            slot, char = match.groups()
            if char is not None:
                tokens.append(("space",) if char == " " else ("chars", char, (1,)))
                continue
            parsed = _SLOT.match(slot.strip())
            if not parsed:
                raise GrammarError("%s line %d: {%s} is not a slot ({9}, {A}, {X}, {P}, with :N, :N-M or :N,M; or "
                                   "{@name})" % (self.source, number, slot))
            ref, cls, low, high, more = parsed.groups()
            if ref:
                tokens.append(("ref", ref, number))
                continue
            counts = (1,) if low is None else tuple(range(int(low), int(high or low) + 1)) + \
                tuple(int(n) for n in more.split(",") if n)
            if not counts or max(counts) > 64 or min(counts) < 0:
                raise GrammarError("%s line %d: {%s}: counts from 0 to 64" % (self.source, number, slot))
            tokens.append(("chars", CLASSES[cls], tuple(sorted(set(counts)))))
        if re.search(r"[{}]", _TOKEN.sub("", body)):
            raise GrammarError("%s line %d: unbalanced braces in %r" % (self.source, number, body))
        return tokens

    def _alternatives(self, name: str, seen: tuple, number: int) -> List[Tuple[int, List[tuple]]]:
        if name not in self.templates:
            raise GrammarError("%s line %d: {@%s} names no template" % (self.source, number, name))
        if name in seen:
            raise GrammarError("%s line %d: {@%s} refers to itself" % (self.source, number, name))
        return self.templates[name]

    # -- the automaton ------------------------------------------------------------------------
    def _build(self, name: str, start: int, seen: tuple, number: int = 0, ends: Optional[List[int]] = None) -> int:
        """Edges from ``start`` for every template of ``name``; returns their common end
        (``ends`` gets where each template's own path ends)."""
        graph = self._graph
        own = []
        for line, tokens in self._alternatives(name, seen, number):
            at = start
            for token in tokens:
                if token[0] == "space":
                    nxt = graph.node()
                    graph.edges[at].append((nxt, None, True))
                    at = nxt
                elif token[0] == "ref":
                    at = self._build(token[1], at, seen + (name,), token[2])
                else:
                    chars, counts = token[1], token[2]
                    exits = []
                    for k in range(max(counts) + 1):
                        if k in counts:
                            exits.append(at)
                        if k == max(counts):
                            break
                        nxt = graph.node()
                        graph.edges[at].append((nxt, chars, len(chars) == 1))
                        at = nxt
                    join = graph.node()
                    for e in exits:
                        graph.edges[e].append((join, "", True))  # epsilon: this count is done
                    at = join
            own.append(at)
        end = graph.node()  # after every node of the alternatives: nodes stay in topological order
        for at in own:
            graph.edges[at].append((end, "", True))
        if ends is not None:
            ends.extend(own)
        return end

    # -- matching -----------------------------------------------------------------------------
    def accepts(self, text: str) -> bool:
        return any(self.end in self._graph.reached(form) for form in (" ".join(text.split()), "".join(text.split())))

    def correct(self, reading: str, max_cost: Optional[float] = None) -> Correction:
        """The accepted string closest to ``reading`` (whitespace in it ignored; with
        ``%find``, closest to one of its runs of words); ``max_cost`` defaults to a quarter
        of the reading's length, at least 2. A reading the grammar accepts is kept as it is."""
        if not self.find and self.accepts(reading):
            return Correction(reading, 0.0, False)
        # compatibility forms as the metrics read them: a full-width '：' is ':'
        return self.decode([(char, None) for char in unicodedata.normalize("NFKC", reading)], max_cost)

    def decode(self, spans: List[Tuple[str, Optional[Dict[str, float]]]],
               max_cost: Optional[float] = None) -> Correction:
        """As ``correct``, for a reading given as scored characters (a CTC decoder's best
        path, ``models/fots/decode.py``): each character with what reading it as another one
        costs (``""``: dropping it; None: the fixed confusion costs). Whitespace separates
        words and costs nothing."""
        words: List[list] = [[]]
        for span in spans:
            if span[0].strip():
                words[-1].append(span)
            elif words[-1]:
                words.append([])
        words = [w for w in words if w]
        if not self.find:
            return self._closest(words, max_cost)
        found = [self._closest(words[i:j], max_cost) for i in range(len(words)) for j in range(i + 1, len(words) + 1)]
        kept = [c for c in found if not c.far]
        if not kept:
            text = " ".join("".join(char for char, _ in word) for word in words)
            return Correction(text, min((c.cost for c in found), default=float("inf")), True)

        def mixed(text: str) -> bool:
            return any(ch.isdigit() for ch in text) and any(ch.isalpha() for ch in text)

        return min(kept, key=lambda c: (c.cost, not mixed(c.text), -len(c.text)))

    def _closest(self, words: List[list], max_cost: Optional[float]) -> Correction:
        """The closest accepted string to these words (lists of scored characters)."""
        text = " ".join("".join(char for char, _ in word) for word in words)
        limit = max(2.0, 0.25 * len(text.replace(" ", ""))) if max_cost is None else max_cost
        if self.accepts(text):
            return Correction(text, 0.0, False)
        found = self.search([span for word in words for span in word])
        return Correction(text, found.cost, True) if found.cost > limit else found

    def search(self, observed: List[Tuple[str, Optional[Dict[str, float]]]]) -> Correction:
        """The accepted string of least edit cost from the observed characters, each with
        its own costs of being read as another character (None: the fixed confusion costs)."""
        edges = self._graph.edges
        count = len(edges)
        inf = float("inf")
        # cost[i][n]: reading observed[:i] and standing on node n; back[i][n]: (i', n', emitted)
        cost = [[inf] * count for _ in range(len(observed) + 1)]
        back: List[List[Optional[tuple]]] = [[None] * count for _ in range(len(observed) + 1)]
        cost[0][0] = 0.0
        for i in range(len(observed) + 1):
            row, brow = cost[i], back[i]
            nxt_row = cost[i + 1] if i < len(observed) else None
            char, costs = observed[i] if i < len(observed) else (None, None)
            if char is None:
                drop = inf
            elif costs is not None:
                drop = costs.get("", EDIT_COST)
            else:
                drop = SEPARATOR_DELETE_COST if char in CLASSES["P"] else EDIT_COST
            for node in range(count):  # nodes are numbered in topological order
                here = row[node]
                if here == inf:
                    continue
                if char is not None and here + drop < nxt_row[node]:  # the reading has a character too many
                    nxt_row[node] = here + drop
                    back[i + 1][node] = (i, node, "")
                for target, chars, literal in edges[node]:
                    if chars == "" or chars is None:  # epsilon, or a space the reading may omit
                        if here < row[target]:
                            row[target] = here
                            brow[target] = (i, node, "" if chars == "" else " ")
                        continue
                    step = LITERAL_INSERT_COST if literal and chars in CLASSES["P"] else EDIT_COST
                    if here + step < row[target]:  # the reading misses this character
                        row[target] = here + step
                        brow[target] = (i, node, chars[0])
                    if char is None:
                        continue
                    if costs is None:
                        emitted, step = _read_as(char, chars)
                    else:
                        emitted, step = min(((c, costs.get(c, EDIT_COST)) for c in chars), key=lambda pair: pair[1])
                    if here + step < nxt_row[target]:
                        nxt_row[target] = here + step
                        back[i + 1][target] = (i, node, emitted)
        total = cost[len(observed)][self.end]
        if total == inf:
            return Correction("".join(char for char, _ in observed), inf, True)
        out, i, node = [], len(observed), self.end
        while (i, node) != (0, 0):
            i, node, emitted = back[i][node]
            out.append(emitted)
        return Correction("".join(reversed(out)).strip(), total, False)


def locate(setting: Optional[str], dataset_root: str, repo: str) -> Optional[str]:
    """The grammar file a run uses: ``auto`` is ``grammar.txt`` beside the manifest when
    there is one, else in the folder above it (a dataset split into ``train/`` and
    ``test/`` with one grammar); None or ``none``: no grammar; else a path (relative: from
    the working directory when it is there, else from the repository)."""
    if setting is None or setting == "none":
        return None
    if setting == "auto":
        for folder in (dataset_root, os.path.dirname(os.path.abspath(dataset_root))):
            path = os.path.join(folder, "grammar.txt")
            if os.path.isfile(path):
                return path
        return None
    if os.path.isabs(setting) or os.path.exists(setting):
        return os.path.abspath(setting)
    return os.path.join(repo, setting)


def load(path: str) -> Grammar:
    try:
        with open(path, encoding="utf-8-sig") as f:
            text = f.read()
    except UnicodeDecodeError as exc:
        raise GrammarError("%s: not UTF-8 text (%s)" % (path, exc))
    except OSError as exc:
        raise GrammarError("%s: cannot read the grammar (%s)" % (path, exc.strerror))
    return Grammar(text, path)


def describe(path: str, truths: List[str]) -> Dict[str, object]:
    """For run.json: the grammar's path, its sha256 and its warnings on these truths; a
    GrammarError if it cannot be read or does not parse."""
    parsed = load(path)
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    return {"path": path, "sha256": digest, "warnings": unused_templates(parsed, truths)}


def unused_templates(grammar: Grammar, truths: List[str]) -> List[str]:
    """Warnings for the top-level templates that accept none of the truths (the grammar is
    probably wrong there), and for truths no template accepts."""
    out = []
    reached = [grammar._graph.reached("".join(t.split())) for t in truths]
    for (line, _), end in zip(grammar.templates[grammar.top], grammar.top_ends):
        if not any(end in nodes for nodes in reached):
            out.append("%s line %d: this %s template accepts none of the %d truths of the dataset; is the grammar "
                       "right?" % (grammar.source, line, grammar.top, len(truths)))
    missed = [t for t in truths if not grammar.accepts(t)]
    if missed:
        out.append("%s: %d of %d truths are outside the grammar (the first: %r); their readings are corrected "
                   "towards other codes" % (grammar.source, len(missed), len(truths), missed[0]))
    return out

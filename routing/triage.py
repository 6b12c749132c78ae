"""Triage: which tags a member's message earns, from the admin-editable rules.

The rules are rows (routing.models.TriageRule), compiled once per process into one
word trie and recompiled when the catalogue changes (signals in this process, the
ticker's version check for the others). docs/triage.md is the admin's guide.

Phrase language (what an admin types in TriageRule.phrase)
-----------------------------------------------------------
A phrase is a sequence of words matched against the message word by word, in any
case. Words are letters (and digits: ``5k``); punctuation between words ends a
clause, and a phrase never matches across a clause.

``fever``          the word itself.
``leak*``          any word starting with ``leak``: leak, leaks, leaking, leaky.
``pee/wee/urine``  one of the alternatives, in one word position. "/" splits one
                   word only; to offer a longer alternative join its words with
                   hyphens: ``down-there/down-below/vagina*``.
``[really]``       an optional word; alternatives allowed: ``[very/really]``.
``...``            up to 4 words of anything, within the clause: ``bleed* ... heavy``
                   matches "bleeding is really heavy".
``<fever-temp>``   a written body temperature of 38 °C / 100.4 °F or more: "38.5",
                   "39C", "101F", "temp of 38" (not "I'm 38" or "39 weeks").
``<temp>``         any written body temperature.

Message and phrase are normalised alike: hyphens are spaces (``c-section`` matches
"c section"), "'s" is dropped ("baby's" is ``baby``), and ``can't`` also matches
"cant", "cannot" and "can not" (don't, isn't, haven't, won't... alike). "but",
"though", "however", "although", "except" end a clause too, yet a phrase may name
them (``need* to pee but nothing``).

Typos: a message word one edit (or swap) away from a rule word of 5+ letters
matches it ("feaver", "bleading"), from a stem of 6+ letters also ("constipaited"),
and from a 5-letter stem only before an ordinary ending ("feaverish"). The first
letter must agree; a plural is not a typo ("shortnes" is no singular); real English
words near the rule words are never taken for typos ("fewer" is not "fever";
_REAL_WORDS below). A 4-letter stem (``leak*``) gets no typo matching: add the full
word (``leaking``) too.

Kinds and context
-----------------
* ``match`` rules add their tag. ``exclude`` rules cancel the same tag's matches
  that share a word with them: exclude ``breast*/boob*/milk ... leak*`` on
  ``leaking`` stops "my boobs are leaking" but not "I leak when I sneeze, and my
  boobs leak too".
* A ``negatable`` rule's match is cancelled by its context:
  - a negation just before it ("no fever", "I don't have chest pain", "not
    bleeding heavily", "without any pain") or inside its gap ("sex isn't
    painful"), never past a clause word the phrase names ("my calf isn't swollen
    but it's red"); "can't", "not sure", "don't want", "won't stop" are not negations;
  - another person as the subject ("my baby has a fever", "my sister had chest
    pain") until the member speaks of herself again ("... and I ...");
  - the thing being over ("the dizziness has settled", "a fever last week but
    it's gone");
  - for red-flag tags only: a hypothetical ("what if I get a fever", "signs of a
    clot") or the past pregnancy or birth ("fainted when I was pregnant").
  Rules that must never be cancelled ("can't breathe", thoughts of self-harm)
  are saved with negatable off.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, Max, Q

from routing.models import RuleKind, Tag, TriageRule

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TriageResult:
    """Tags a text earns, and for red flags the phrases that raised them."""

    tags: frozenset[str]
    red_flag_reasons: tuple[str, ...] = ()

    @property
    def red_flag(self) -> bool:
        return bool(self.red_flag_reasons)


@dataclass(frozen=True, slots=True)
class _Rule:
    slug: str
    phrase: str
    kind: str
    negatable: bool
    note: str = ""


class PhraseError(ValueError):
    """A phrase that the phrase language cannot read."""


# --------------------------------------------------------------------------- text

BREAK = "|"  # a punctuation clause boundary; no phrase can contain it
GAP_MAX = 4

_TOKEN = re.compile(
    r"""
      (?P<temp>\d{2,3}(?:[.,]\d{1,2})?)\s?(?:°|º|degrees?|deg)?\s?
        (?P<unit>c|f|celsius|centigrade|fahrenheit)\b
    | (?P<deg>\d{2,3}(?:[.,]\d{1,2})?)\s?(?:°|º)
    | (?P<num>\d+(?:\.\d+|,\d(?!\d))?)(?P<suffix>[a-z]+)?
    | (?P<word>[^\W\d_]+(?:'[^\W\d_]+)*)
    | (?P<brk>[.!?;:,()\n]+|\s[-–—]+\s|[–—])
    """,
    re.VERBOSE,
)
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'"})

# Words that end a clause like punctuation does; a phrase may still name them.
_BREAK_WORDS = frozenset({"but", "however", "though", "although", "except", "whereas"})
_BREAKS = _BREAK_WORDS | {BREAK}
# Spellings a phone keyboard leaves without the apostrophe, and spelt-out forms.
_SPELLING = {
    "cant": "can't", "cannot": "can't", "dont": "don't", "doesnt": "doesn't",
    "didnt": "didn't", "isnt": "isn't", "arent": "aren't", "wasnt": "wasn't",
    "werent": "weren't", "havent": "haven't", "hasnt": "hasn't", "hadnt": "hadn't",
    "wont": "won't", "wouldnt": "wouldn't", "couldnt": "couldn't", "shouldnt": "shouldn't",
    "aint": "ain't", "im": "i'm", "ive": "i've", "thats": "that", "whats": "what",
    "its": "it", "hes": "he", "shes": "she", "theyre": "they're", "youre": "you're",
}  # fmt: skip
_NOT_PAIRS = {
    "can": "can't", "do": "don't", "does": "doesn't", "did": "didn't", "is": "isn't",
    "are": "aren't", "was": "wasn't", "were": "weren't", "have": "haven't",
    "has": "hasn't", "had": "hadn't", "will": "won't", "would": "wouldn't",
    "could": "couldn't", "should": "shouldn't",
}  # fmt: skip

FEVER_TEMP = "<fever-temp>"
ANY_TEMP = "<temp>"
_PLACEHOLDERS = frozenset({FEVER_TEMP, ANY_TEMP})
# With the usual misspellings of "temperature": a cue is matched exactly, no typos.
_TEMP_CUES = frozenset(
    {"temp", "temps", "temperature", "temperatures", "thermometer", "fever", "reading",
     "temprature", "tempreture", "temperture", "tempature", "tempurature", "temperatue"}
)  # fmt: skip
_NOT_TEMP_UNITS = frozenset(
    {"weeks", "week", "days", "kg", "lbs", "lb", "years", "months", "hours", "mins",
     "minutes", "cm", "ml", "oz", "percent", "pounds", "kilos", "miles", "km"}
)  # fmt: skip
# Recognised temperatures become one placeholder token (see _classify_number).
_FEVER_MARK = "\x00fever"
_TEMP_MARK = "\x00temp"


def _words(tokens: list[str]) -> str:
    """Tokens as a person reads them: a written temperature shows as what it means."""
    shown = {_FEVER_MARK: "a fever-range temperature", _TEMP_MARK: "a temperature"}
    return " ".join(shown.get(token, token) for token in tokens)


def _temperature(value: float, unit: str | None) -> str | None:
    """The placeholder token for a body temperature, or None if it isn't one."""
    if unit is None:
        unit = "c" if 34 <= value <= 43 else "f" if 93 <= value <= 110 else ""
    if unit.startswith("c") and 34 <= value <= 43:
        return _FEVER_MARK if value >= 38 else _TEMP_MARK
    if unit.startswith("f") and 93 <= value <= 110:
        return _FEVER_MARK if value >= 100.4 else _TEMP_MARK
    return None


def tokenize(text: str) -> list[str]:
    """Normalised words of a text, with BREAK between clauses."""
    out: list[str] = []
    numbers: list[int] = []  # positions of bare numbers, classified once neighbours are known
    for m in _TOKEN.finditer(text.lower().translate(_APOSTROPHES)):
        word, number = m.group("word"), m.group("num")
        if word is not None:
            if word.endswith("'s"):
                word = word[:-2]
            word = _SPELLING.get(word, word)
            if word == "not" and out and out[-1] in _NOT_PAIRS:
                out[-1] = _NOT_PAIRS[out[-1]]
                continue
            out.append(word)
        elif m.group("brk") is not None:
            if out and out[-1] != BREAK:
                out.append(BREAK)
        elif m.group("unit") is not None:
            value = float(m.group("temp").replace(",", "."))
            out.append(_temperature(value, m.group("unit")) or m.group(0).replace(" ", ""))
        elif m.group("deg") is not None:
            value = float(m.group("deg").replace(",", "."))
            out.append(_temperature(value, None) or m.group("deg"))
        elif m.group("suffix"):
            out.append(m.group(0))
        else:
            numbers.append(len(out))
            out.append(number.replace(",", "."))
    for at in numbers:
        out[at] = _classify_number(out, at)
    return out


def _classify_number(tokens: list[str], at: int) -> str:
    """A bare number is a temperature when a temperature word is near it, or when it
    has a decimal point in a body-temperature range and no other unit follows."""
    raw = tokens[at]
    value = float(raw)
    near = tokens[max(0, at - 3) : at] + tokens[at + 1 : at + 3]
    if any(t in _TEMP_CUES for t in near):
        return _temperature(value, None) or raw
    after = tokens[at + 1] if at + 1 < len(tokens) else ""
    if "." in raw and after not in _NOT_TEMP_UNITS:
        return _temperature(value, None) or raw
    return raw


# ------------------------------------------------------------------------ phrases

_PLACEHOLDER_KEYS = {_FEVER_MARK: (FEVER_TEMP, ANY_TEMP), _TEMP_MARK: (ANY_TEMP,)}
_ATOM = re.compile(r"^(?:<[a-z-]+>|[^\W_]+(?:'[^\W_]+)*\*?)$")


class _Node:
    __slots__ = ("edges", "ends", "gap")

    def __init__(self) -> None:
        self.edges: dict[str, _Node] = {}
        self.gap: _Node | None = None
        self.ends: list[int] = []


_GAP = "..."
Slot = tuple[bool, tuple[tuple[str, ...], ...]]  # (optional, alternatives of atom sequences)


def parse_phrase(phrase: str) -> list[Slot | str]:
    """The slots of a phrase; raises PhraseError for a phrase the language can't read."""
    slots: list[Slot | str] = []
    for part in phrase.lower().translate(_APOSTROPHES).split():
        if part == _GAP:
            if not slots or slots[-1] == _GAP:
                raise PhraseError(f"{phrase!r}: '...' must stand between two words")
            slots.append(_GAP)
            continue
        optional = part.startswith("[") and part.endswith("]")
        body = part[1:-1] if optional else part
        alternatives = []
        for alternative in body.split("/"):
            atoms = _atoms(alternative, phrase)
            if not atoms:
                raise PhraseError(f"{phrase!r}: empty alternative in {part!r}")
            alternatives.append(atoms)
        slots.append((optional, tuple(alternatives)))
    if not slots or slots[-1] == _GAP:
        raise PhraseError(f"{phrase!r}: a phrase needs a word, and cannot end with '...'")
    if all(slot != _GAP and slot[0] for slot in slots):
        raise PhraseError(f"{phrase!r}: at least one word must not be optional")
    return slots


def _atoms(alternative: str, phrase: str) -> tuple[str, ...]:
    if alternative in _PLACEHOLDERS:
        return (alternative,)
    star = alternative.endswith("*")
    core = alternative.rstrip("*")
    if not core or "*" in core:
        raise PhraseError(f"{phrase!r}: '*' only at the end of a word")
    words = tokenize(core)
    if not words or BREAK in words or any(not _ATOM.match(w) for w in words):
        raise PhraseError(f"{phrase!r}: {alternative!r} is not a word")
    if star:
        words[-1] += "*"
    return tuple(words)


def _insert(node: _Node, slots: list[Slot | str], at: int, rule: int) -> None:
    if at == len(slots):
        node.ends.append(rule)
        return
    slot = slots[at]
    if slot == _GAP:
        node.gap = node.gap or _Node()
        _insert(node.gap, slots, at + 1, rule)
        return
    optional, alternatives = slot
    for atoms in alternatives:
        here = node
        for atom in atoms:
            here = here.edges.setdefault(atom, _Node())
        _insert(here, slots, at + 1, rule)
    if optional:
        _insert(node, slots, at + 1, rule)


@dataclass(slots=True)
class _Hit:
    rule: int
    start: int
    end: int
    atoms: tuple[int, ...]  # positions matched by words of the phrase (the rest are gap)


def _walk(
    node: _Node,
    keys: list[tuple[str, ...]],
    tokens: list[str],
    pos: int,
    start: int,
    atoms: tuple[int, ...],
    out: list[_Hit],
) -> None:
    for rule in node.ends:
        out.append(_Hit(rule, start, pos, atoms))
    if pos < len(tokens):
        for key in keys[pos]:
            child = node.edges.get(key)
            if child is not None:
                _walk(child, keys, tokens, pos + 1, start, (*atoms, pos), out)
    if node.gap is not None:
        end = min(len(tokens), pos + GAP_MAX)
        for skip_to in range(pos, end + 1):
            if skip_to > pos and tokens[skip_to - 1] in _BREAKS:
                break
            _walk(node.gap, keys, tokens, skip_to, start, atoms, out)


def _matches(root: _Node, keys: list[tuple[str, ...]], tokens: list[str]) -> list[_Hit]:
    """Every (rule, start) match, the shortest where one rule matches several ways."""
    found: list[_Hit] = []
    for pos in range(len(tokens)):
        if keys[pos]:
            _walk(root, keys, tokens, pos, pos, (), found)
    best: dict[tuple[int, int], _Hit] = {}
    for hit in found:
        key = (hit.rule, hit.start)
        if key not in best or hit.end < best[key].end:
            best[key] = hit
    return list(best.values())


# -------------------------------------------------------------------------- typos

FUZZY_MIN = 5  # shorter words have too many real-word neighbours ("wind"/"wine")
FUZZY_STEM_MIN = 5
# A stem of 5 letters is only matched with a typo when the rest is an ordinary
# ending ("feaverish" is fever* with a typo); free only from 6 letters, as
# "constipaited" for constipat*. Shorter stems get none: "company" is not come*.
FREE_STEM_MIN = 6
_ENDINGS = ("", "s", "es", "ed", "d", "ing", "er", "ers", "y", "ish", "ly", "ness", "ful")
KNOWN_STEM = 4

# Common English words one edit away from a seeded rule word: a member who types
# them means them ("fewer" is not "fever", "leaving" is not "leaking", "doing" is
# not "doming"). Made from the seeded vocabulary and English word frequencies
# (every word seen at least once per million words, less the longer forms of a rule
# word such as "larger" for "large"). When an admin's new rule word catches a real
# word, an exclude rule with that word (same tag) fixes it.
_REAL_WORDS_TEXT = """
    abort abound acres acting alice alike alter arches ashes attaches attacked backed backer
    backers backing backs baggy banged barge barley barred barrel barren barrie barry batter
    battle battled battlefield battleground battles battleship beaming bearing beast beasts
    beings bella belle bello bells bending bette betting biking billy binding bitter blank
    blanks bleep blend blended blender blending blends bling blinking block blocked blocker
    blockers blocking blocks blond bloom boating boeing bootleg bottling bounded bowed bowen
    bower bowers bowled bowler bowlers bowles bowling bowls breach breadth breakthrough
    breakthroughs breathed breather breathes breaths breathtaking breed breeder breeders
    breeding breeds brewster bride briggs bring brood bruins bugged bugger bully burton
    butter camped camper campers camping camps canes catchy caves cedar champ champs chances
    changed changer charges cheat cheek chess chick chuck clamp clamps clams clans clash
    clashed clashes clasp claus clauses claws clinch clinched cloned clones cloning coach
    coded codes coding coined coles collapses collars combing combs comin comms coney
    contracting copying cores crammed crappy creed crest crimes crises crops crouch crows
    crush crutches danced dancer dante daring diaphragm dispersal disperse dispersed
    dispersion doable doing domingo domino doomed doping doses doubles doubly doubted doves
    downing draper drawn dream easter emergence emery escaping exiting exits faces fanny
    federer fences feral fetal fewer filing filling finder finer flashed flattering flint
    flood flour flushing focal frost fueling funky gaming gazing gettin grain grant grasping
    grassy groan grown guild handy hangs hanks harding header healed healy heard hears
    hearst hearth hearty heated heath hickey homeless horde horne house hunting hunts
    hurling hurst infested injected insider insiders isolate isolates joins keller killed
    lange larry leading leads leaning leaping leasing leaving liking linger lining listing
    livin loans loner longed lords lovely loving lowry lungs mather metal miserably nadal
    nasal naval newer nothin noting novel novice paddle palace panned parts pasted paused
    pausing peace peeling peking perimeter pertinent petty piled pines pints pipes pirates
    pissed pissing planck plane planes planner planners planning plans plant planted planter
    planters planting plants plate plates pointe pointy poked poking poles polls pools
    popped popping posed posing prank pranks print property props public puddle puffs quack
    quirk quirky racer racers racked racking racks raged rages raging raiding raised rally
    raped rapes raping rated rates rating raving realty reilly related relates relating
    relay relayed relays revere riggs ringo rises rising rowling ruining runnin sacred salah
    salam scaled scams scans scored scots sears seeding seeking seeming seller sellers
    selling sells setting sever severed severn sewing shade shading shaken shaker shaky
    shale shame shaming shane shape shaping share shared sharing shave shaving sheep shell
    shelled shelling shells shelly shipping ships shirt shitting shoes shoot shore shorts
    shorty shots shout shows sighs singer singers singing sings sipping sittin skimming
    skips slapping slaps sleek slight sling slots small smaller smoother snake snitch snort
    soared soaring softened somethin sorts spanning spared sparing spark sparked sparking
    sparks spell spelled spelling spells spits spitting spore spores sporty spout sprained
    sprang sprint sprung spying squad squads squared squares stabs stain stained staining
    stainless stains stairs stake stare stared stares staring stark starr start starts stats
    stays steep stink stinking stinks stinky stint stitch stitched stood stoop straight
    straighten straightened straightforward strait straits strand stranded strands strange
    strangely stranger strangers strangest strangle strangled string stringent stringer
    strings strung stung suction sugary suing supper swapping sweep swell swells swing
    swinging swings switches tables takin talking tammy taping taxing teaming teams tease
    teasing tended tenth terribly terry theme these theyre thorough though three thrones
    throw throwing throws timmy tinder tommy towed tower towering towers track trail
    trailing trait trick trough truce trunk tryin twain unbeatable uncomfortably urged
    usable vanishes wafer wager waiter walter weigh weighs weirdo wight world worries wright
"""
_REAL_WORDS = frozenset(_REAL_WORDS_TEXT.split())


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _one_edit(a: str, b: str) -> bool:
    """Damerau-Levenshtein distance (adjacent transpositions) of at most one."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    i = 0
    while i < la and i < lb and a[i] == b[i]:
        i += 1
    if la == lb:
        if a[i + 1 :] == b[i + 1 :]:
            return True
        return i + 1 < la and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2 :] == b[i + 2 :]
    if la > lb:
        return a[i + 1 :] == b[i:]
    return a[i:] == b[i + 1 :]


def _plural(a: str, b: str) -> bool:
    """A singular and its plural are different words, not a typo of each other
    ("exercises" is not the rule's "exercise"). A word ending in "ss" is no plural:
    "shortnes" is "shortness" with an "s" dropped."""
    return (a + "s" == b and not b.endswith("ss")) or (b + "s" == a and not a.endswith("ss"))


class _Vocabulary:
    """Which phrase atoms each message word satisfies, typos included; cached per word."""

    CACHE_MAX = 50_000

    def __init__(self, atoms: Iterable[str]) -> None:
        self.words: set[str] = set()
        self.stems: set[str] = set()
        for atom in atoms:
            if atom in _PLACEHOLDERS:
                continue
            (self.stems if atom.endswith("*") else self.words).add(atom.rstrip("*"))
        self.max_stem = max(map(len, self.stems), default=0)
        self.max_word = max(map(len, self.words), default=0)
        self.word_index = self._index(w for w in self.words if len(w) >= FUZZY_MIN)
        self.stem_index = self._index(s for s in self.stems if len(s) >= FUZZY_STEM_MIN)
        self.cache: dict[str, tuple[str, ...]] = {}

    @staticmethod
    def _index(words: Iterable[str]) -> dict[str, set[str]]:
        index: dict[str, set[str]] = {}
        for word in words:
            if not word.isalpha():
                continue
            for variant in {word} | _deletes(word):
                index.setdefault(variant, set()).add(word)
        return index

    def keys(self, token: str) -> tuple[str, ...]:
        found = self.cache.get(token)
        if found is None:
            found = self._keys(token)
            if len(self.cache) >= self.CACHE_MAX:
                self.cache.clear()
            self.cache[token] = found
        return found

    def _keys(self, token: str) -> tuple[str, ...]:
        if token == BREAK:
            return ()
        if token in _PLACEHOLDER_KEYS:
            return _PLACEHOLDER_KEYS[token]
        keys = [token] if token in self.words else []
        stems = [n for n in range(1, min(len(token), self.max_stem) + 1) if token[:n] in self.stems]
        keys += [token[:n] + "*" for n in stems]
        # A word that is a rule word, or starts with a rule stem of a real word's length,
        # is that word; a short stem ("run*") still lets "runing" be a typo of "running".
        known = token in self.words or any(n >= KNOWN_STEM for n in stems)
        if known or len(token) < FUZZY_MIN or not token.isalpha() or token in _REAL_WORDS:
            return tuple(keys)
        return tuple(sorted({*keys, *self._typos(token)}))

    def _typos(self, token: str) -> list[str]:
        keys = []
        if len(token) <= self.max_word + 1:
            for variant in {token} | _deletes(token):
                for word in self.word_index.get(variant, ()):
                    if word[0] == token[0] and _one_edit(token, word) and not _plural(token, word):
                        keys.append(word)
        # The part of a word that can be a mistyped stem is at most one letter longer.
        for n in range(FUZZY_STEM_MIN - 1, min(len(token), self.max_stem + 1) + 1):
            prefix, rest = token[:n], token[n:]
            for variant in {prefix} | _deletes(prefix):
                for stem in self.stem_index.get(variant, ()):
                    if (
                        stem[0] == token[0]
                        and (len(stem) >= FREE_STEM_MIN or rest in _ENDINGS)
                        and _one_edit(prefix, stem)
                    ):
                        keys.append(stem + "*")
        return sorted(set(keys))


# ------------------------------------------------------------------------ context

NEG, PSEUDO, OTHER, RESOLVED, HYPO, HIST = "neg", "pseudo", "other", "resolved", "hypo", "hist"

# Cue phrases, in the phrase language (no typo matching). At each word the longest
# cue wins, so a PSEUDO cue ("not sure") hides the negation inside it.
_CUES: dict[str, tuple[str, ...]] = {
    NEG: (
        "no", "not", "never", "without", "none", "nor", "neither", "denies", "denied",
        "don't", "doesn't", "didn't", "haven't", "hasn't", "hadn't", "isn't", "aren't",
        "wasn't", "weren't", "ain't", "no more", "no longer", "no sign/signs of",
        "free of", "ruled out", "don't think i have/i've/it/i'm/there",
    ),
    PSEUDO: (
        "not sure", "not certain", "unsure", "no idea", "don't know", "didn't know",
        "not only", "not just", "no matter", "no doubt", "don't want", "didn't want",
        "don't understand", "not normal", "isn't normal", "not right", "not ok/okay",
        "no better", "not better", "not improving", "not getting better",
        "not stop/stopping/stopped", "won't stop", "doesn't stop", "didn't stop",
        "hasn't/haven't stopped", "never stopped", "can't stop", "not gone", "isn't gone",
        "hasn't/haven't gone", "never gone", "won't go away", "not going away",
        "doesn't go away", "didn't go away", "never went away", "not settled",
        "hasn't/haven't settled", "not cleared", "started again", "back again",
        "never ... this/so/such/that", "no one would", "nobody would", "not able",
        "if i'm", "if i am", "if it", "if this", "if that", "if my",
        "with the/my baby", "mum/mom/mummy/mommy and baby", "baby blues",
    ),
    OTHER: (
        "baby", "the baby", "my baby", "newborn", "the newborn", "my newborn", "lo",
        "my lo", "little one", "my little one", "he", "she", "my son", "my daughter",
        "my toddler", "my eldest", "my kids", "my twins", "my sister", "my brother",
        "my mum", "my mom", "my mother", "my dad", "my nan", "my gran", "my grandma",
        "my aunt/auntie", "my cousin", "my friend", "my partner", "my husband", "my hubby",
        "my dh", "my wife", "my boyfriend", "my girlfriend", "my neighbour/neighbor",
        "my colleague", "my sister-in-law", "my mother-in-law",
    ),
    RESOLVED: (
        "gone", "went away", "gone away", "stopped", "settled", "cleared", "cleared up",
        "resolved", "eased", "disappeared", "better now", "fine now", "ok/okay now",
        "normal now", "back to normal", "gone down", "sorted", "turned out to be",
        "all clear", "was clear", "nothing since",
    ),
    HYPO: (
        "what if", "in case", "if ... ever/get/gets/start/starts/develop/develops/becomes",
        "if ... turns/happens/happened", "signs of", "sign of", "symptoms of", "symptom of",
        "warning signs", "watch out for", "look out for", "watch for", "should i worry",
        "when to worry", "at what temperature", "how do i know", "can you get",
        "is it possible to get", "worried about getting", "scared of getting",
        "afraid of getting", "risk of", "chance of", "ever have", "likely to get/have",
        "how will/would/can/could i know/tell", "what counts as", "what is classed as",
        "how much is too much", "asked if/whether", "ask if/whether",
        "make you ... get", "does ... cause",
    ),
    HIST: (
        "during/in labour/labor/delivery/pregnancy", "during the birth/delivery/labour",
        "during my labour/labor/delivery/pregnancy", "when i was pregnant", "while pregnant",
        "in my pregnancy", "before the birth", "with my first/last/previous",
        "years ago", "last year", "as a teenager/child/kid",
        "straight/right/immediately/just after delivery/the-birth/birth/labour/labor",
    ),
}  # fmt: skip
_CUE_RANK = {PSEUDO: 0, NEG: 1, HYPO: 2, HIST: 3, RESOLVED: 4, OTHER: 5}
_FIRST_PERSON = frozenset({"i", "i'm", "i've", "i'd", "i'll", "me", "myself", "mine", "my"})
_ANAPHORA = frozenset({"it", "they", "they've", "they're", "that", "this", "which", "both"})
_LIST_WORDS = frozenset({"or", "nor"})
# A negation covers the words right after it, not a new phrase ("no fever since
# the op", "I don't have a fever and my calf is swollen").
_NEG_ENDS = frozenset({"since", "after", "because", "when", "while", "until", "and", "so"})
_DOUBLE_NEGATIVE = frozenset({"can't", "won't", "couldn't", "not", "no"})
# "gone" means over only when nothing describes what it became ("it's gone red").
_GONE_ENDS = _BREAKS | {
    "now", "completely", "totally", "since", "thankfully", "thank", "and", "so", "which",
    "after", "by", "today", "yesterday", "already", "again", "for", "at", "in", "this", "too",
}  # fmt: skip
NEG_WINDOW = 4
SCOPE_WINDOW = 8


def _build_cues() -> tuple[_Node, list[str]]:
    root = _Node()
    kinds: list[str] = []
    for kind, phrases in _CUES.items():
        for phrase in phrases:
            kinds.append(kind)
            _insert(root, parse_phrase(phrase), 0, len(kinds) - 1)
    return root, kinds


_CUE_ROOT, _CUE_KINDS = _build_cues()


@dataclass(slots=True)
class _Cue:
    kind: str
    start: int
    end: int


def _cues(tokens: list[str]) -> list[_Cue]:
    keys = [(t,) for t in tokens]
    cues: list[_Cue] = []
    pos = 0
    while pos < len(tokens):
        found: list[_Hit] = []
        _walk(_CUE_ROOT, keys, tokens, pos, pos, (), found)
        if not found:
            pos += 1
            continue
        # A pseudo-negation at this word wins even over a longer cue ("if i'm ... get").
        best = max(
            found,
            key=lambda h: (_CUE_KINDS[h.rule] == PSEUDO, h.end, -_CUE_RANK[_CUE_KINDS[h.rule]]),
        )
        cues.append(_Cue(_CUE_KINDS[best.rule], best.start, best.end))
        pos = best.end
    return cues


class _Context:
    """Cancels matches by the words around them (see the module docstring)."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.clause: list[int] = []
        self.clause_start: dict[int, int] = {}
        number = 0
        for i, token in enumerate(tokens):
            if token in _BREAKS and i and tokens[i - 1] not in _BREAKS:
                number += 1
            self.clause.append(number)
            if token not in _BREAKS:
                self.clause_start.setdefault(number, i)
        self.cues = _cues(tokens)

    def _negation_reaches(self, cue: _Cue, target: int) -> bool:
        if cue.end < len(self.tokens) and self.tokens[cue.end] in _DOUBLE_NEGATIVE:
            return False
        words = 0
        for token in self.tokens[cue.end : target]:
            if token in _BREAKS or token in _FIRST_PERSON or token in _NEG_ENDS:
                return False
            if token in _LIST_WORDS:
                words = 0
                continue
            words += 1
            if words > NEG_WINDOW:
                return False
        return True

    def _forward(self, cue: _Cue, hit: _Hit, *, reset_on_self: bool) -> bool:
        # A hit may start inside a gapped cue ("if the bleeding gets heavier").
        if cue.start >= hit.start:
            return False
        if self.clause[cue.start] != self.clause[hit.start]:
            return False
        if hit.start - cue.end > SCOPE_WINDOW:
            return False
        between = self.tokens[cue.end : hit.start]
        return not (reset_on_self and any(t in _FIRST_PERSON for t in between))

    def negated(self, hit: _Hit) -> bool:
        for cue in self.cues:
            if cue.kind != NEG:
                continue
            if cue.end <= hit.start and self._negation_reaches(cue, hit.start):
                return True
            inside_gap = hit.start < cue.start < hit.end and cue.start not in hit.atoms
            if inside_gap:
                # A phrase may name a clause word ("calf ... but it ... red"); the
                # negation before it stays in its clause: "my calf isn't swollen but
                # it's red" keeps the red calf.
                following = [a for a in hit.atoms if a >= cue.end and self.tokens[a] not in _BREAKS]
                if following and self._negation_reaches(cue, following[0]):
                    return True
        return False

    def someone_else(self, hit: _Hit) -> bool:
        return any(
            cue.kind == OTHER
            and cue.end <= hit.start
            and self._forward(cue, hit, reset_on_self=True)
            for cue in self.cues
        )

    def hypothetical_or_past(self, hit: _Hit) -> bool:
        return any(
            cue.kind in (HYPO, HIST) and self._forward(cue, hit, reset_on_self=False)
            for cue in self.cues
        )

    def _points_back(self, cue: _Cue) -> bool:
        """Whether a cue's clause refers back with a pronoun: "but it's gone",
        "antibiotics sorted it"; not "the headache's gone"."""
        tokens = self.tokens
        first = self.clause_start.get(self.clause[cue.start], cue.start)
        nearby = {tokens[first], tokens[cue.start - 1] if cue.start else ""}
        if cue.end < len(tokens):
            nearby.add(tokens[cue.end])
        return bool(nearby & _ANAPHORA)

    def looking_back(self, hits: list[_Hit], kind: str) -> list[_Hit]:
        """Matches that a RESOLVED or HIST cue after them refers to: the nearest
        match before the cue in its clause (with matches right next to it), or in the
        clause before when a pronoun points back ("a fever last week but it's gone").
        Only the nearest: "soaking a pad an hour, the headache's gone" keeps the pad."""
        bound: list[_Hit] = []
        for cue in self.cues:
            if cue.kind != kind:
                continue
            after = self.tokens[cue.end] if cue.end < len(self.tokens) else BREAK
            if kind == RESOLVED and after.endswith("ing"):
                continue  # "I've stopped going out" is not "it has stopped"
            if kind == RESOLVED and self.tokens[cue.start] == "gone" and after not in _GONE_ENDS:
                continue  # "it's gone red" is not "it's gone"
            clause = self.clause[cue.start]
            before = [h for h in hits if h.end <= cue.start and cue.start - h.end <= SCOPE_WINDOW]
            same = [h for h in before if self.clause[h.start] == clause]
            if not same and kind == RESOLVED and self._points_back(cue):
                same = [h for h in before if self.clause[h.start] == clause - 1]
            if same:
                nearest = max(same, key=lambda h: h.end)
                # Neighbouring matches name the same thing: "with a temp of 39".
                bound += [h for h in same if h.end >= nearest.start - 2]
        return bound


# ---------------------------------------------------------------------- catalogue


class _Compiled:
    """The active rules as one word trie, with the vocabulary for typo matching."""

    def __init__(self, rules: list[_Rule], red_flags: frozenset[str]) -> None:
        self.rules: list[_Rule] = []
        self.red_flags = red_flags
        self.root = _Node()
        atoms: set[str] = set()
        for rule in rules:
            try:
                slots = parse_phrase(rule.phrase)
            except PhraseError as error:
                log.warning("triage rule skipped: %s", error)
                continue
            self.rules.append(rule)
            _insert(self.root, slots, 0, len(self.rules) - 1)
            for slot in slots:
                if slot != _GAP:
                    atoms.update(atom for alternative in slot[1] for atom in alternative)
        self.vocabulary = _Vocabulary(atoms)

    def triage(self, text: str) -> TriageResult:
        tokens = tokenize(text)
        keys = [self.vocabulary.keys(token) for token in tokens]
        hits = _matches(self.root, keys, tokens)
        if not hits:
            return _NOTHING
        rules = self.rules
        if any(rules[h.rule].negatable for h in hits):
            hits = self._in_context(hits, tokens)
        excludes = [h for h in hits if rules[h.rule].kind == RuleKind.EXCLUDE]
        kept = [
            h
            for h in sorted(hits, key=lambda h: (h.start, h.end))
            if rules[h.rule].kind != RuleKind.EXCLUDE
            and not any(
                rules[x.rule].slug == rules[h.rule].slug and x.start < h.end and h.start < x.end
                for x in excludes
            )
        ]
        tags = frozenset(rules[h.rule].slug for h in kept)
        # Staff read the reason in an alert: the rule's note if it has one, else the
        # member's own words that matched (never the rule's syntax).
        reasons = tuple(
            dict.fromkeys(
                rules[h.rule].note or _words(tokens[h.start : h.end])
                for h in kept
                if rules[h.rule].slug in self.red_flags
            )
        )
        return TriageResult(tags=tags, red_flag_reasons=reasons)

    def _in_context(self, hits: list[_Hit], tokens: list[str]) -> list[_Hit]:
        context = _Context(tokens)
        rules = self.rules
        matches = [h for h in hits if rules[h.rule].kind == RuleKind.MATCH]
        cancelled = {id(h) for h in context.looking_back(matches, RESOLVED)}
        cancelled |= {
            id(h)
            for h in context.looking_back(matches, HIST)
            if rules[h.rule].slug in self.red_flags
        }
        kept = []
        for hit in hits:
            rule = rules[hit.rule]
            if rule.negatable and (
                id(hit) in cancelled
                or context.negated(hit)
                or context.someone_else(hit)
                or (rule.slug in self.red_flags and context.hypothetical_or_past(hit))
            ):
                continue
            kept.append(hit)
        return kept


_NOTHING = TriageResult(tags=frozenset())


class _Catalogue:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._compiled: _Compiled | None = None
        self._version: tuple | None = None

    def rules(self) -> tuple[list[_Rule], frozenset[str]]:
        """The active rules that compiled, and the red-flag tag slugs."""
        compiled = self.compiled()
        return list(compiled.rules), compiled.red_flags

    def compiled(self) -> _Compiled:
        compiled = self._compiled
        if compiled is not None:
            return compiled
        with self._lock:
            if self._compiled is None:
                self._compiled = self._load()
            return self._compiled

    def invalidate(self) -> None:
        with self._lock:
            self._compiled = None

    def refresh_if_changed(self) -> None:
        version = catalogue_version()
        with self._lock:
            if version != self._version:
                self._compiled = None

    def _load(self) -> _Compiled:
        self._version = catalogue_version()
        tags = Tag.objects.filter(active=True)
        red_flags = frozenset(tag.slug for tag in tags if tag.is_red_flag)
        rules = [
            _Rule(rule.tag.slug, rule.phrase, rule.kind, rule.negatable, rule.note)
            for rule in TriageRule.objects.select_related("tag")
            .filter(active=True, tag__active=True)
            .order_by("id")
        ]
        return _Compiled(rules, red_flags)


def catalogue_version() -> tuple:
    """Changes whenever a rule or tag is added, edited, switched on or off, or deleted.

    The active counts catch a bulk ``update(active=False)``, which sends no signal
    and leaves ``updated_at`` alone.
    """
    live = Count("id", filter=Q(active=True))
    rules = TriageRule.objects.aggregate(
        at=Max("updated_at"), top=Max("id"), n=Count("id"), live=live
    )
    tags = Tag.objects.aggregate(at=Max("updated_at"), n=Count("id"), live=live)
    return (
        rules["at"],
        rules["top"],
        rules["n"],
        rules["live"],
        tags["at"],
        tags["n"],
        tags["live"],
    )


catalogue = _Catalogue()


def triage_text(text: str) -> TriageResult:
    """Tags for a member's message."""
    return catalogue.compiled().triage(text)


def red_flag_slugs() -> frozenset[str]:
    """The tags the catalogue marks as red flags (Tag.is_red_flag), as triage uses them."""
    return catalogue.compiled().red_flags
